import { createDataSource, initializeDataSource, migrate, type MigrationClass } from '@platform/db';
import { migrations as orderMigrations } from '@platform/migrations/order-service';
import { migrations as paymentMigrations } from '@platform/migrations/payment-service';
import { migrations as userMigrations } from '@platform/migrations/user-service';
import { createTestDatabase } from '@platform/testing';
import type { DataSource } from 'typeorm';

/** Every service's migrations go up, all the way down, and up again to the same schema. */
async function tables(ds: DataSource): Promise<string[]> {
  const rows = (await ds.query(
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name <> 'schema_migrations' ORDER BY 1",
  )) as { t: string }[];
  return rows.map((r) => r.t);
}

describe.each([
  ['user-service', userMigrations],
  ['order-service', orderMigrations],
  ['payment-service', paymentMigrations],
] as [string, MigrationClass[]][])('%s migrations', (name, list) => {
  it('when taken up, all the way down and up again, then each step succeeds and the schema is the same', async () => {
    const db = await createTestDatabase(name);
    const ds = await initializeDataSource(
      createDataSource({ url: db.url, poolSize: 1, connectTimeoutMs: 5_000, migrations: list }),
      {},
    );
    try {
      expect(await migrate(ds, 'up')).toHaveLength(list.length);
      const schema = await tables(ds);
      expect(await migrate(ds, 'revert-all')).toHaveLength(list.length);
      expect(await tables(ds)).toEqual([]);
      expect(await migrate(ds, 'up')).toHaveLength(list.length);
      expect(await tables(ds)).toEqual(schema);
    } finally {
      await ds.destroy();
      await db.drop();
    }
  });
});
