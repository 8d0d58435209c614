-- docker-compose.replica.yml: the primary's account for its replica, at the primary's first start
-- (after migrations/init, whose schemas and accounts the replica copies). Development password.
CREATE USER IF NOT EXISTS 'replicator'@'%' IDENTIFIED BY 'replicator';
GRANT REPLICATION SLAVE ON *.* TO 'replicator'@'%';
