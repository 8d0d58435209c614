import { createConnection, type Connection } from 'mysql2/promise';
import { createWriteStream } from 'node:fs';
import { uuidV7At } from '../orders/rows';

/**
 * Orders the platform has never served, one per request, for the scenarios that must not
 * meet the same order twice: the cache-miss reads and the payments. Written straight into
 * order-service's own schema as bench:orders seeds (multi-row INSERTs, UUIDv7 ids of their
 * created_at), owned by the bench's signed-up users in turn, PENDING, one line of 2 × 19.99.
 * The run's users' orders and payments are deleted at its end.
 */

const ROWS_PER_STATEMENT = 4_000;
export const POOL_ITEM = Object.freeze({ sku: 'BENCH-1', name: 'Bench item', unitPrice: 1_999, quantity: 2 });

export interface Pool {
  file: string;
  size: number;
  /** The first entry no round has taken yet. */
  offset: number;
}

const hex = (uuid: string) => uuid.replace(/-/g, '');
const uuidOf = (id: Buffer) => id.toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
const datetime = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');

/**
 * A pool of `size` new orders in `<admin>/order_service` (or in the schema the URL names),
 * listed in `file` as `<orderId> <owner index>`.
 */
export async function seedPool(mysqlAdminUrl: string, owners: string[], size: number, file: string): Promise<Pool> {
  const pool = { file, size: 0, offset: 0 };
  await growPool(mysqlAdminUrl, owners, pool, size);
  return pool;
}

/** `count` more orders at the end of the pool (its file is read afresh by every wrk run). */
export async function growPool(mysqlAdminUrl: string, owners: string[], pool: Pool, count: number): Promise<void> {
  const url = new URL(mysqlAdminUrl);
  if (url.pathname.length <= 1) url.pathname = '/order_service';
  const conn = await createConnection({ uri: url.toString() });
  const out = createWriteStream(pool.file, { flags: 'a' });
  try {
    const start = Date.now() - count;
    for (let at = 0; at < count; at += ROWS_PER_STATEMENT) {
      const rows = chunk(owners, pool.size + at, start + at, Math.min(ROWS_PER_STATEMENT, count - at));
      await conn.query(`INSERT INTO orders (id, user_id, status, currency, total_amount, version, created_at, updated_at) VALUES ${rows.orders}`);
      await conn.query(`INSERT INTO order_items (order_id, line_no, sku, name, unit_price, quantity, line_total) VALUES ${rows.items}`);
      out.write(rows.lines);
    }
    pool.size += count;
  } finally {
    await new Promise((resolve) => out.end(resolve));
    await conn.end();
  }
}

/** `n` orders, the first of them entry `first` of the pool, created from `ms` on, a millisecond apart. */
function chunk(owners: string[], first: number, ms: number, n: number): { orders: string; items: string; lines: string } {
  const { unitPrice, quantity, sku, name } = POOL_ITEM;
  const orders: string[] = [];
  const items: string[] = [];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = uuidV7At(ms + i);
    const owner = (first + i) % owners.length;
    const when = `'${datetime(ms + i)}'`;
    orders.push(`(0x${id.toString('hex')},0x${hex(owners[owner] as string)},'PENDING','EUR',${unitPrice * quantity},1,${when},${when})`);
    items.push(`(0x${id.toString('hex')},1,'${sku}','${name}',${unitPrice},${quantity},${unitPrice * quantity})`);
    lines.push(`${uuidOf(id)} ${owner}\n`);
  }
  return { orders: orders.join(','), items: items.join(','), lines: lines.join('') };
}

async function deleteAll(conn: Connection, sql: string, userId: string): Promise<number> {
  let deleted = 0;
  for (;;) {
    const [result] = await conn.query(sql, [hex(userId)]);
    const n = (result as { affectedRows: number }).affectedRows;
    deleted += n;
    if (n === 0) return deleted;
  }
}

/**
 * The users' orders (their items go with them) and payments, in slices of 10,000 so that no
 * transaction grows large on the shared server. The users themselves stay, like e2e's.
 */
export async function deleteUsersData(mysqlAdminUrl: string, userIds: string[]): Promise<{ orders: number; payments: number }> {
  const conn = await createConnection({ uri: mysqlAdminUrl });
  try {
    let orders = 0;
    let payments = 0;
    for (const id of userIds) {
      payments += await deleteAll(conn, 'DELETE FROM payment_service.payments WHERE user_id = UNHEX(?) LIMIT 10000', id);
      orders += await deleteAll(conn, 'DELETE FROM order_service.orders WHERE user_id = UNHEX(?) LIMIT 10000', id);
    }
    return { orders, payments };
  } finally {
    await conn.end();
  }
}
