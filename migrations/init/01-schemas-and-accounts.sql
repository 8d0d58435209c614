-- One schema and one MySQL account per service; each account reaches only its own schema.
-- The single source for both paths: `npm run db:setup` runs it through MYSQL_ADMIN_URL, and the
-- MySQL container of docker-compose.yml runs it at first start (/docker-entrypoint-initdb.d).
-- Every statement is idempotent. Works on MySQL 8.4 and MariaDB 10.11.
-- The passwords are development defaults: production creates the accounts with its own
-- passwords (docs/operations.md, "What it needs") and passes them in DATABASE_URL.

CREATE DATABASE IF NOT EXISTS user_service CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS order_service CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS payment_service CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE USER IF NOT EXISTS 'user_service'@'%' IDENTIFIED BY 'user_service';
CREATE USER IF NOT EXISTS 'order_service'@'%' IDENTIFIED BY 'order_service';
CREATE USER IF NOT EXISTS 'payment_service'@'%' IDENTIFIED BY 'payment_service';

-- What the service and its migrations need on their own schema, and nothing on any other.
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES, LOCK TABLES,
  CREATE VIEW, SHOW VIEW, TRIGGER ON user_service.* TO 'user_service'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES, LOCK TABLES,
  CREATE VIEW, SHOW VIEW, TRIGGER ON order_service.* TO 'order_service'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES, LOCK TABLES,
  CREATE VIEW, SHOW VIEW, TRIGGER ON payment_service.* TO 'payment_service'@'%';
