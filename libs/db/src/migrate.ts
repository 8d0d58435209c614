import type { DataSource } from 'typeorm';
import { createDataSource, initializeDataSource, type MigrationClass } from './data-source';

export type MigrationDirection = 'up' | 'revert' | 'revert-all';

/**
 * Applies every pending migration ('up'), undoes the last one ('revert'), or undoes
 * all of them ('revert-all'). Returns the names of the migrations it ran or undid.
 */
export async function migrate(ds: DataSource, direction: MigrationDirection): Promise<string[]> {
  if (direction === 'up') {
    const ran = await ds.runMigrations({ transaction: 'each' });
    return ran.map((m) => m.name);
  }
  const undone: string[] = [];
  do {
    const applied = await appliedMigrations(ds);
    const last = applied.at(-1);
    if (!last) break;
    await ds.undoLastMigration({ transaction: 'each' });
    undone.push(last);
  } while (direction === 'revert-all');
  return undone;
}

/** Names of the applied migrations, oldest first. */
export async function appliedMigrations(ds: DataSource): Promise<string[]> {
  const table = ds.options.migrationsTableName ?? 'migrations';
  const exists = (await ds.query(
    'SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?',
    [table],
  )) as [{ n: number | string }];
  if (Number(exists[0].n) === 0) return [];
  const rows = (await ds.query(`SELECT name FROM \`${table}\` ORDER BY timestamp, id`)) as { name: string }[];
  return rows.map((r) => r.name);
}

/** Applies `migrations` to the schema at `url` with a short-lived connection. */
export async function migrateUrl(url: string, migrations: MigrationClass[], direction: MigrationDirection = 'up'): Promise<string[]> {
  const ds = createDataSource({ url, poolSize: 1, connectTimeoutMs: 5_000, migrations });
  await initializeDataSource(ds, {});
  try {
    return await migrate(ds, direction);
  } finally {
    await ds.destroy();
  }
}
