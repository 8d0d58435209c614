/**
 * Grows an order-service schema to N orders, fast: multi-row INSERTs of a few thousand
 * orders and their items per statement, time-ordered UUIDv7 ids spread over the past
 * year, many users, and the measured user's 2,000 orders among the first ones. Used by
 * `npm run bench:orders`, and alone:
 *
 *   tsx bench/orders/seed.ts --orders 1000000 --schema bench_orders_x
 *
 * creates and migrates the schema through MYSQL_ADMIN_URL if needed, adds what is
 * missing, and leaves it in place.
 */
import { uuidTime } from '@platform/db';
import { createConnection, type Connection } from 'mysql2/promise';
import { parseArgs } from 'node:util';
import { validate, version } from 'uuid';
import { chunkSql, MEASURED_ORDERS, MEASURED_USER } from './rows';
import { benchSchemaName, openSchema } from './schema';

const ORDERS_PER_STATEMENT = 4_000;
const YEAR_MS = 365 * 24 * 3_600_000;

export interface SeedResult {
  added: number;
  itemsAdded: number;
  total: number;
  /** Inserting, from the first statement to the last commit. */
  insertMs: number;
  /** ANALYZE TABLE afterwards, so plans rest on the statistics of the grown tables. */
  analyzeMs: number;
}

const connect = (url: string) => createConnection({ uri: url, timezone: 'Z', supportBigNumbers: true });
const count = async (conn: Connection, sql: string, params: unknown[] = []) => Number(((await conn.query(sql, params))[0] as { n: number }[])[0]?.n);

/** Times spread evenly at random over the past year, ascending, and which are the measured user's. */
function plan(add: number, measuredToAdd: number): { times: Float64Array; measured: Uint8Array } {
  const now = Date.now() - 60_000;
  const times = new Float64Array(add).map(() => Math.floor(now - Math.random() * YEAR_MS)).sort();
  const measured = new Uint8Array(add);
  // Selection sampling: exactly `measuredToAdd` of the positions, each equally likely.
  for (let i = 0, left = measuredToAdd; i < add && left > 0; i++) {
    if (Math.random() * (add - i) < left) {
      measured[i] = 1;
      left--;
    }
  }
  return { times, measured };
}

/**
 * Orders on one connection, their items on another one statement behind, so the server
 * writes items while the next chunk of orders is made and sent.
 */
async function insertAll(orders: Connection, items: Connection, times: Float64Array, measured: Uint8Array): Promise<number> {
  let itemCount = 0;
  let pending: Promise<unknown> = Promise.resolve();
  try {
    for (let at = 0; at < times.length; at += ORDERS_PER_STATEMENT) {
      const sql = chunkSql(times.subarray(at, at + ORDERS_PER_STATEMENT), measured.subarray(at, at + ORDERS_PER_STATEMENT));
      await orders.query(sql.orders);
      const previous = pending;
      pending = previous.then(() => items.query(sql.items));
      await previous;
      itemCount += sql.itemCount;
    }
    await pending;
  } finally {
    await pending.catch(() => undefined);
  }
  return itemCount;
}

export async function growTo(url: string, target: number): Promise<SeedResult> {
  const [a, b] = await Promise.all([connect(url), connect(url)]);
  try {
    const existing = await count(a, 'SELECT COUNT(*) AS n FROM orders');
    const measuredNow = await count(a, 'SELECT COUNT(*) AS n FROM orders WHERE user_id = UNHEX(?)', [MEASURED_USER.replace(/-/g, '')]);
    const add = Math.max(0, target - existing);
    const { times, measured } = plan(add, Math.min(add, MEASURED_ORDERS - measuredNow));
    const start = performance.now();
    const itemsAdded = await insertAll(a, b, times, measured);
    const insertMs = performance.now() - start;
    await a.query('ANALYZE TABLE orders, order_items');
    return { added: add, itemsAdded, total: existing + add, insertMs, analyzeMs: performance.now() - start - insertMs };
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
}

/**
 * What the service assumes of every id: a valid UUIDv7 whose timestamp is its row's
 * created_at, so id order is time order. Checked in SQL over every row, and in
 * TypeScript with the service's own uuidTime() over the measured user's orders.
 * Answers the rows that break it (0 expected).
 */
export async function badIds(url: string): Promise<number> {
  const conn = await connect(url);
  try {
    const inSql = await count(
      conn,
      `SELECT COUNT(*) AS n FROM orders WHERE SUBSTR(HEX(id), 13, 1) <> '7' OR SUBSTR(HEX(id), 17, 1) NOT IN ('8', '9', 'A', 'B')
        OR created_at <> TIMESTAMP('1970-01-01') + INTERVAL CONV(HEX(LEFT(id, 6)), 16, 10) * 1000 MICROSECOND`,
    );
    const [rows] = (await conn.query('SELECT HEX(id) AS id, created_at FROM orders WHERE user_id = UNHEX(?) ORDER BY id', [MEASURED_USER.replace(/-/g, '')])) as unknown as [
      { id: string; created_at: Date }[],
    ];
    let previous = 0;
    const inTs = rows.filter(({ id: hex, created_at: createdAt }) => {
      const id = hex.toLowerCase().replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
      const ok = validate(id) && version(id) === 7 && uuidTime(id) === createdAt.getTime() && createdAt.getTime() >= previous;
      previous = createdAt.getTime();
      return !ok;
    }).length;
    return inSql + inTs;
  } finally {
    await conn.end();
  }
}

async function cli(): Promise<void> {
  const { values } = parseArgs({ options: { orders: { type: 'string' }, schema: { type: 'string' } } });
  const target = Number(values.orders);
  if (!Number.isInteger(target) || target < MEASURED_ORDERS) throw new Error(`--orders must be an integer of at least ${MEASURED_ORDERS}`);
  const schema = await openSchema(values.schema ?? benchSchemaName());
  const r = await growTo(schema.url, target);
  const bad = await badIds(schema.url);
  console.log(
    `${schema.name}: ${r.total.toLocaleString('en-US')} orders (${r.added.toLocaleString('en-US')} added with ${r.itemsAdded.toLocaleString('en-US')} items ` +
      `in ${(r.insertMs / 1000).toFixed(1)} s, ANALYZE ${(r.analyzeMs / 1000).toFixed(1)} s); measured user ${MEASURED_USER}; ids not UUIDv7 of their created_at: ${bad}`,
  );
}

if (require.main === module) {
  cli().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
