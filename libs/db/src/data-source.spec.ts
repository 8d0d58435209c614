import { createTestDatabase, type TestDatabase } from '@platform/testing';
import type { DataSource } from 'typeorm';
import { createDataSource, initializeDataSource } from './data-source';

let db: TestDatabase;
let ds: DataSource;

beforeAll(async () => {
  db = await createTestDatabase('datasource');
  ds = await initializeDataSource(
    createDataSource({ url: db.url, poolSize: 4, connectTimeoutMs: 5_000, queryTimeoutMs: 300 }),
    { queryTimeoutMs: 300 },
  );
});
afterAll(async () => {
  await ds.destroy();
  await db.drop();
});

describe('createDataSource', () => {
  it('when the pool opens several connections, then each has the server-side statement timeout', async () => {
    const [{ version }] = (await ds.query('SELECT VERSION() AS version')) as [{ version: string }];
    const variable = /mariadb/i.test(version) ? '@@max_statement_time' : '@@max_execution_time';
    const expected = /mariadb/i.test(version) ? 0.3 : 300;
    // Concurrent queries force the pool to open new connections beyond the first.
    const rows = await Promise.all(
      Array.from({ length: 8 }, () => ds.query(`SELECT ${variable} AS t, CONNECTION_ID() AS id, SLEEP(0.05) AS s`)),
    );
    const byConnection = new Map(rows.map(([r]) => [Number(r.id), Number(r.t)]));
    expect(byConnection.size).toBeGreaterThan(1);
    for (const t of byConnection.values()) expect(t).toBe(expected);
  });

  it('when a statement runs past the timeout, then the server stops it', async () => {
    const started = Date.now();
    // MariaDB aborts with error 1969 (max_statement_time); MySQL interrupts SLEEP, which returns 1.
    const outcome = await ds.query('SELECT SLEEP(5) AS s').then(
      ([r]: { s: number | string }[]) => `returned ${Number(r?.s)}`,
      (err: { errno?: number }) => `failed ${err.errno}`,
    );
    expect(outcome).toMatch(/^(failed 1969|returned 1)$/);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('when text with emoji and quotes is stored, then it reads back exactly (utf8mb4)', async () => {
    await ds.query('CREATE TABLE texts (v VARCHAR(50) NOT NULL)');
    const value = "😀 ünïcödé '; DROP TABLE texts; --";
    await ds.query('INSERT INTO texts (v) VALUES (?)', [value]);
    const [row] = (await ds.query('SELECT v FROM texts')) as { v: string }[];
    expect(row?.v).toBe(value);
  });
});
