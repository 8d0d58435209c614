-- docker-compose.replica.yml: the replica follows the primary by GTID, from its first transaction
-- (schemas, accounts, and then everything the services and their migrations write), and takes no
-- writes of its own. Runs at the replica's first start; the replica resumes by itself after that.
CHANGE REPLICATION SOURCE TO
  SOURCE_HOST = 'mysql',
  SOURCE_PORT = 3306,
  SOURCE_USER = 'replicator',
  SOURCE_PASSWORD = 'replicator',
  SOURCE_AUTO_POSITION = 1,
  SOURCE_CONNECT_RETRY = 5,
  GET_SOURCE_PUBLIC_KEY = 1;
START REPLICA;
SET PERSIST read_only = ON;
SET PERSIST super_read_only = ON;
