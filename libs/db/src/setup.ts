import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';

/** The one SQL file that creates the schemas and accounts; the MySQL container runs it at init too. */
export const SETUP_SQL_PATH = join(__dirname, '..', '..', '..', 'migrations', 'init', '01-schemas-and-accounts.sql');

/**
 * Creates each service's schema and its account (which reaches only that schema)
 * through an admin connection. Every statement is idempotent, so it runs on every start.
 */
export async function setupDatabases(adminUrl: string, sqlPath = SETUP_SQL_PATH): Promise<void> {
  const sql = await readFile(sqlPath, 'utf8');
  const conn = await createConnection({ uri: adminUrl, multipleStatements: true, connectTimeout: 10_000 });
  try {
    await conn.query(sql);
  } finally {
    await conn.end();
  }
}
