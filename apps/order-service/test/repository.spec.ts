import { createDataSource, createOneTripTransactions, initializeDataSource, migrate, newId, uuidTime, type OneTripTransactions } from '@platform/db';
import { migrations } from '@platform/migrations/order-service';
import { createTestDatabase, recordMysqlQueries, type MysqlQueryRecorder, type TestDatabase } from '@platform/testing';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { ordersRepository, type Order, type OrdersRepository, type PageQuery } from '../src/orders/orders-repository';
import { costOf } from './session-counters';

/**
 * What the schema and the repository promise MySQL-side: the statements a create costs,
 * the rows a page reads, the plans that serve the lists, and the constraints that hold
 * even for a writer that skips the service's checks.
 */
let db: TestDatabase;
let ds: DataSource;
let recorder: MysqlQueryRecorder;
let oneTrip: OneTripTransactions;
let repo: OrdersRepository;

beforeAll(async () => {
  db = await createTestDatabase('order_repo');
  // One connection: every statement of a piece of work is counted on it.
  ds = await initializeDataSource(createDataSource({ url: db.url, poolSize: 1, connectTimeoutMs: 5_000, migrations }), {});
  await migrate(ds, 'up');
  // Creates go through the recorder, on one connection of their own: what each sends is seen.
  recorder = await recordMysqlQueries(db.url);
  oneTrip = createOneTripTransactions({ url: recorder.url, poolSize: 1, connectTimeoutMs: 5_000 });
  repo = ordersRepository(() => ds, oneTrip);
});
afterAll(async () => {
  await oneTrip?.close();
  await recorder?.close();
  await ds?.destroy();
  await db?.drop();
});

function anOrder(userId: string, itemCount: number, status: Order['status'] = 'PENDING'): Omit<Order, 'version' | 'paidAt'> {
  const id = newId();
  const createdAt = new Date(uuidTime(id));
  const items = Array.from({ length: itemCount }, (_, i) => ({ sku: `SKU-${i}`, name: `Item ${i}`, unitPrice: 100 + i, quantity: 1, lineTotal: 100 + i }));
  return { id, userId, status, currency: 'EUR', totalAmount: items.reduce((sum, i) => sum + i.lineTotal, 0), items, createdAt, updatedAt: createdAt };
}

/** The statement `page` runs for its orders (its items query is not reached: no rows come back). */
async function pageStatement(query: PageQuery): Promise<[string, unknown[]]> {
  let statement: [string, unknown[]] = ['', []];
  const recorder = {
    query: async (sql: string, params: unknown[]) => {
      statement = [sql, params];
      return [];
    },
  };
  await repo.page(query, recorder as unknown as DataSource);
  return statement;
}

/** Many orders of many users in a few multi-row INSERTs. */
async function seed(users: string[], perUser: number): Promise<void> {
  const orders = users.flatMap((u) => Array.from({ length: perUser }, (_, i) => anOrder(u, 1, i % 3 === 0 ? 'PAID' : 'PENDING')));
  for (let i = 0; i < orders.length; i += 1_000) {
    const chunk = orders.slice(i, i + 1_000);
    await ds.query(
      `INSERT INTO orders (id, user_id, status, currency, total_amount, version, created_at, updated_at) VALUES ${chunk.map(() => '(UNHEX(?), UNHEX(?), ?, ?, ?, 1, ?, ?)').join(', ')}`,
      chunk.flatMap((o) => [o.id.replace(/-/g, ''), o.userId.replace(/-/g, ''), o.status, o.currency, o.totalAmount, o.createdAt, o.updatedAt]),
    );
  }
}

describe('orders repository', () => {
  it('when an order is created with 1 item and with 100, then each is one query of 4 statements: START TRANSACTION, order, items, COMMIT', async () => {
    const userId = randomUUID();
    await repo.insert(anOrder(userId, 1)); // the connection's first use also sets its session up
    const from = recorder.queries.length;
    await repo.insert(anOrder(userId, 1));
    await repo.insert(anOrder(userId, 100));
    const queries = recorder.queries.slice(from);
    expect(queries).toHaveLength(2);
    for (const query of queries) {
      expect(query).toMatch(/^START TRANSACTION; INSERT INTO orders \(.*\); INSERT INTO order_items \(.*\); COMMIT$/s);
    }
    const [stored] = (await ds.query('SELECT COUNT(*) AS n FROM order_items')) as { n: string }[];
    expect(Number(stored?.n)).toBe(102);
  });

  it('when an order is read by id, then one statement answers it with every item in line order; an unknown id, none', async () => {
    const order = anOrder(randomUUID(), 12);
    await repo.insert(order);
    const read = await costOf(ds, () => repo.findById(order.id));
    expect(read.questions).toBe(1);
    expect(await repo.findById(order.id)).toMatchObject({ id: order.id, userId: order.userId, status: 'PENDING', totalAmount: order.totalAmount, version: 1, items: order.items });
    expect(await repo.findById(randomUUID())).toBeUndefined();
  });

  it('when an item insert fails, then the order is not stored either, nor by the next create on that connection', async () => {
    const order = anOrder(randomUUID(), 2);
    const [first, second] = order.items;
    if (!first || !second) throw new Error('two items expected');
    await expect(repo.insert({ ...order, items: [first, { ...second, lineTotal: -1 }] })).rejects.toThrow();
    expect(await repo.findById(order.id)).toBeUndefined();
    // The next transaction's START TRANSACTION would commit one left open by the failure.
    const next = anOrder(order.userId, 1);
    await repo.insert(next);
    expect(await repo.findById(order.id)).toBeUndefined();
    expect((await repo.findById(next.id))?.items).toHaveLength(1);
  });

  describe('on 3,000 orders of 20 users', () => {
    let user: string;
    let deep: string;
    beforeAll(async () => {
      const users = Array.from({ length: 20 }, () => randomUUID());
      await seed(users, 150);
      user = users[7] ?? '';
      deep = (await repo.page({ userId: user, take: 101 })).at(-1)?.id ?? '';
    });

    it.each([
      ['the first page', {}],
      ['a page deep in the list', { deep: true }],
      ['a page by status', { status: 'PAID' as const, deep: true }],
    ])('when %s is read, then MySQL reads at most the page plus 2 rows', async (_name, { status, deep: isDeep }: { status?: 'PAID'; deep?: boolean }) => {
      const take = 21;
      const [sql, params] = await pageStatement({ userId: user, status, beforeId: isDeep ? deep : undefined, take });
      const cost = await costOf(ds, () => ds.query(sql, params));
      expect(cost.rowsRead).toBeGreaterThan(0);
      expect(cost.rowsRead).toBeLessThanOrEqual(take + 2);
      // The whole page, items included, is two statements: the orders, then their items.
      expect((await costOf(ds, () => repo.page({ userId: user, status, beforeId: isDeep ? deep : undefined, take }))).questions).toBe(2);
    });

    it.each([
      ['the list', undefined, 'ix_orders_user'],
      ['the list by status', 'PAID' as const, 'ix_orders_user_status'],
    ])('when %s is explained, then it ranges over its index with no sort, for a busy user and for one with no orders', async (_name, status, index) => {
      for (const userId of [user, randomUUID()]) {
        const [sql, params] = await pageStatement({ userId, status, beforeId: newId(), take: 21 });
        const plan = (await ds.query(`EXPLAIN ${sql}`, params)) as { key: string; Extra: string | null; type: string }[];
        expect(plan).toHaveLength(1);
        expect(plan[0]).toMatchObject({ key: index, type: 'range' });
        expect(plan[0]?.Extra ?? '').not.toMatch(/filesort|temporary/i);
      }
    });
  });

  it.each([
    ['a zero total', 'INSERT INTO orders (id, user_id, status, currency, total_amount, created_at, updated_at) VALUES (?, ?, "PENDING", "EUR", 0, NOW(3), NOW(3))'],
    ['an unknown status', 'INSERT INTO orders (id, user_id, status, currency, total_amount, created_at, updated_at) VALUES (?, ?, "SHIPPED", "EUR", 5, NOW(3), NOW(3))'],
  ])('when a row with %s is written past the service, then MySQL refuses it', async (_case, sql) => {
    await ds.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES'");
    await expect(ds.query(sql, [Buffer.alloc(16, 9), Buffer.alloc(16, 8)])).rejects.toThrow();
  });

  it('when two transitions race from PENDING, then exactly one changes the order', async () => {
    const order = anOrder(randomUUID(), 1);
    await repo.insert(order);
    const results = await Promise.all([repo.transition(order.id, ['PENDING'], 'CANCELLED'), repo.transition(order.id, ['PENDING'], 'PAID')]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const stored = await repo.findById(order.id);
    expect(stored?.version).toBe(2);
    expect(stored?.status).toBe(results[0] ? 'CANCELLED' : 'PAID');
  });
});
