import { createTestDatabase, recordMysqlQueries, type MysqlQueryRecorder, type TestDatabase } from '@platform/testing';
import type { DataSource } from 'typeorm';
import { createDataSource, initializeDataSource } from './data-source';
import { createOneTripTransactions, type OneTripTransactions } from './one-trip';

let db: TestDatabase;
/** Reads what was stored, on a connection of its own. */
let ds: DataSource;
let recorder: MysqlQueryRecorder;
/** One connection, through the recorder: what each transaction sends is seen, and it is the same connection every time. */
let oneTrip: OneTripTransactions;

beforeAll(async () => {
  db = await createTestDatabase('one_trip');
  ds = await initializeDataSource(createDataSource({ url: db.url, poolSize: 2, connectTimeoutMs: 5_000 }), {});
  await ds.query('CREATE TABLE parents (id INT NOT NULL PRIMARY KEY, label VARCHAR(200) NOT NULL) ENGINE=InnoDB');
  await ds.query(
    'CREATE TABLE children (parent_id INT NOT NULL, n INT NOT NULL, label VARCHAR(200) NOT NULL, PRIMARY KEY (parent_id, n), ' +
      'FOREIGN KEY (parent_id) REFERENCES parents (id), CHECK (n > 0)) ENGINE=InnoDB',
  );
  recorder = await recordMysqlQueries(db.url);
  oneTrip = createOneTripTransactions({ url: recorder.url, poolSize: 1, connectTimeoutMs: 5_000, queryTimeoutMs: 1_000 });
});
afterAll(async () => {
  await oneTrip?.close();
  await recorder?.close();
  await ds?.destroy();
  await db?.drop();
});

let nextId = 1;
const parent = (id: number, label = `parent ${id}`) => ({ sql: 'INSERT INTO parents (id, label) VALUES (?, ?)', values: [id, label] });
const children = (id: number, ns: number[], label = 'child') => ({
  sql: `INSERT INTO children (parent_id, n, label) VALUES ${ns.map(() => '(?, ?, ?)').join(', ')}`,
  values: ns.flatMap((n) => [id, n, label]),
});
const count = async (table: 'parents' | 'children', id: number) =>
  Number(((await ds.query(`SELECT COUNT(*) AS n FROM ${table} WHERE ${table === 'parents' ? 'id' : 'parent_id'} = ?`, [id])) as { n: string }[])[0]?.n);
/** What `work` sent to the server: one entry per query, so per round trip. */
async function sent(work: () => Promise<unknown>): Promise<string[]> {
  const from = recorder.queries.length;
  await work();
  return recorder.queries.slice(from);
}

describe('createOneTripTransactions', () => {
  it('when a transaction of two inserts runs, then it is one query to the server, framed by START TRANSACTION and COMMIT, and both rows are stored', async () => {
    await oneTrip.run([parent(nextId++)]); // the connection's first use also sets its session up
    const id = nextId++;
    const queries = await sent(() => oneTrip.run([parent(id), children(id, [1, 2, 3])]));
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(/^START TRANSACTION; INSERT INTO parents .*; INSERT INTO children .*; COMMIT$/s);
    expect([await count('parents', id), await count('children', id)]).toEqual([1, 3]);
  });

  it('when a transaction runs, then it answers the rows each statement changed, in order: an UPDATE that matched nothing counts 0', async () => {
    const id = nextId++;
    const relabel = (label: string, at: number) => ({ sql: 'UPDATE parents SET label = ? WHERE id = ?', values: [label, at] });
    expect(await oneTrip.run([parent(id), children(id, [1, 2, 3]), relabel('renamed', id), relabel('nobody', -1)])).toEqual([1, 3, 1, 0]);
  });

  it('when the second statement fails, then the first is rolled back, and the next transaction on that connection does not commit it', async () => {
    const failed = nextId++;
    await expect(oneTrip.run([parent(failed), children(failed, [1, 0])])).rejects.toThrow();
    expect(await count('parents', failed)).toBe(0);
    // START TRANSACTION commits a transaction still open on the connection: had the failed one been left open, this would store it.
    const next = nextId++;
    await oneTrip.run([parent(next), children(next, [1])]);
    expect([await count('parents', failed), await count('children', failed)]).toEqual([0, 0]);
    expect(await count('parents', next)).toBe(1);
  });

  it('when the first statement fails, then nothing after it runs and the connection stays usable', async () => {
    const existing = nextId++;
    await oneTrip.run([parent(existing)]);
    await expect(oneTrip.run([parent(existing, 'again'), children(existing, [1])])).rejects.toMatchObject({ driverError: { code: 'ER_DUP_ENTRY' } });
    expect(await count('children', existing)).toBe(0);
    const next = nextId++;
    await oneTrip.run([parent(next)]);
    expect(await count('parents', next)).toBe(1);
  });

  it('when a value holds quotes, backslashes, semicolons and SQL, then it is stored as written and runs nothing', async () => {
    const id = nextId++;
    const label = "x'); DROP TABLE children; -- \\'; DELETE FROM parents; \" ` \\\\ 😀 ünï";
    await oneTrip.run([parent(id, label), children(id, [1], label)]);
    const [row] = (await ds.query('SELECT p.label AS p, c.label AS c FROM parents p JOIN children c ON c.parent_id = p.id WHERE p.id = ?', [id])) as { p: string; c: string }[];
    expect(row).toEqual({ p: label, c: label });
    expect(Number(((await ds.query('SELECT COUNT(*) AS n FROM parents')) as { n: string }[])[0]?.n)).toBeGreaterThan(1);
  });

  it.each([
    ['two statements in one', { sql: 'INSERT INTO parents (id, label) VALUES (?, ?); DELETE FROM parents', values: [1, 'a'] }],
    ['more placeholders than values', { sql: 'INSERT INTO parents (id, label) VALUES (?, ?)', values: [1] }],
    ['a value mysql2 would expand into SQL', { sql: 'INSERT INTO parents (id, label) VALUES (?, ?)', values: [1, { label: 'a' }] }],
  ])('when a statement has %s, then it is refused before anything is sent', async (_case, statement) => {
    const queries = await sent(() => expect(oneTrip.run([statement as never])).rejects.toThrow());
    expect(queries).toEqual([]);
  });

  it('when a statement waits on a lock past the query timeout, then the transaction fails, is not committed, and the pool goes on', async () => {
    const id = nextId++;
    const held = nextId++;
    const holder = ds.createQueryRunner();
    await holder.startTransaction();
    try {
      await holder.query('INSERT INTO parents (id, label) VALUES (?, ?)', [held, 'holder']);
      // MariaDB stops the waiting INSERT (max_statement_time); on MySQL the client gives up and destroys the connection.
      await expect(oneTrip.run([parent(id), parent(held)])).rejects.toThrow();
    } finally {
      await holder.rollbackTransaction();
      await holder.release();
    }
    expect(await count('parents', id)).toBe(0);
    const next = nextId++;
    await oneTrip.run([parent(next)]);
    expect([await count('parents', id), await count('parents', next)]).toEqual([0, 1]);
  });
});
