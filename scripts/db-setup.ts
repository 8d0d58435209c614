// npm run db:setup: creates each service's schema and its own MySQL account, idempotently,
// through MYSQL_ADMIN_URL (default mysql://root@127.0.0.1:3306).
import { SETUP_SQL_PATH, setupDatabases } from '@platform/db';
import { ConfigError, loadConfig, mysqlAdminEnv } from '@platform/service-kit';
import { Type } from '@sinclair/typebox';

const Schema = Type.Object(mysqlAdminEnv());

async function main(): Promise<void> {
  const { MYSQL_ADMIN_URL } = loadConfig(Schema, process.env, { dotenv: true });
  await setupDatabases(MYSQL_ADMIN_URL, SETUP_SQL_PATH);
  process.stdout.write('db:setup: schemas and accounts user_service, order_service, payment_service are in place\n');
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError ? err.message : `could not set up the databases: ${(err as Error).message}`;
  process.stderr.write(`db:setup: ${message}\n`);
  process.exit(1);
});
