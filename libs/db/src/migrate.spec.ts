import { createTestDatabase, type TestDatabase } from '@platform/testing';
import type { DataSource } from 'typeorm';
import { fixtureMigrations } from '../test/fixture-migrations';
import { createDataSource, initializeDataSource, type MigrationClass } from './data-source';
import { appliedMigrations, migrate } from './migrate';

let db: TestDatabase;
const open: DataSource[] = [];

async function dataSource(migrations: MigrationClass[]): Promise<DataSource> {
  const ds = createDataSource({ url: db.url, poolSize: 2, connectTimeoutMs: 5_000, migrations });
  open.push(ds);
  return initializeDataSource(ds, {});
}

async function tables(ds: DataSource): Promise<string[]> {
  const rows = (await ds.query(
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name <> 'schema_migrations' ORDER BY 1",
  )) as { t: string }[];
  return rows.map((r) => r.t);
}

beforeEach(async () => {
  db = await createTestDatabase('migrate');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((ds) => ds.destroy()));
  await db.drop();
});

describe('migrate', () => {
  it('when run up, then every pending migration is applied once, in order', async () => {
    const ds = await dataSource(fixtureMigrations);
    expect(await migrate(ds, 'up')).toEqual(['CreateWidgets1700000000001', 'AddWidgetName1700000000002']);
    expect(await migrate(ds, 'up')).toEqual([]);
    expect(await appliedMigrations(ds)).toEqual(['CreateWidgets1700000000001', 'AddWidgetName1700000000002']);
    await ds.query("INSERT INTO widgets (price, name) VALUES (9007199254740993, 'big')");
    const [row] = (await ds.query('SELECT price FROM widgets')) as { price: string }[];
    expect(row?.price).toBe('9007199254740993'); // BIGINT comes back exact, as a string
  });

  it('when reverted, then only the last migration is undone; revert-all undoes the rest', async () => {
    const ds = await dataSource(fixtureMigrations);
    await migrate(ds, 'up');
    expect(await migrate(ds, 'revert')).toEqual(['AddWidgetName1700000000002']);
    const columns = (await ds.query(
      "SELECT column_name AS c FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'widgets' ORDER BY ordinal_position",
    )) as { c: string }[];
    expect(columns.map((c) => c.c)).toEqual(['id', 'price']);
    expect(await migrate(ds, 'revert-all')).toEqual(['CreateWidgets1700000000001']);
    expect(await tables(ds)).toEqual([]);
    expect(await migrate(ds, 'revert')).toEqual([]);
  });

});
