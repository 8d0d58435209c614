import { binaryToUuid, type OneTripTransactions } from '@platform/db';
import type { DataSource } from 'typeorm';
import { ordersRepository } from '../../apps/order-service/src/orders/orders-repository';
import { costOf } from '../../apps/order-service/test/session-counters';
import { MEASURED_USER } from './rows';

/**
 * What a page costs MySQL, measured on the repository's own statements: each one runs on
 * a pool of one connection, bracketed by that session's counters (`costOf`), so rows read
 * (Handler_read_*) and statements (Questions) are exact. Against it, the same page by
 * OFFSET, as a list without cursors would ask for it.
 */

export const PAGE_SIZE = 20;
/** The service reads one row more than it shows, to learn whether another page follows; the OFFSET baseline does too. */
const TAKE = PAGE_SIZE + 1;
const COLUMNS = 'id, user_id, status, currency, total_amount, version, created_at, updated_at';
const USER = Buffer.from(MEASURED_USER.replace(/-/g, ''), 'hex');

export const PAGES = [
  { name: 'first page', after: 0 },
  { name: 'deep page, after 1,500 orders', after: 1_500 },
  { name: 'PAID page, after 500 PAID', status: 'PAID', after: 500 },
] as const;
export type PageName = (typeof PAGES)[number]['name'];
type Page = (typeof PAGES)[number];

export interface Cost {
  questions: number;
  rowsRead: number;
}
export interface Measured {
  cost: Cost;
  /** EXPLAIN's access type and index, e.g. `range on ix_orders_user`. */
  plan: string;
  sql: string;
  params: unknown[];
}
export interface PageRows {
  keyset: Measured;
  items: Measured;
  offset: Measured;
}
export interface SqlFigures {
  pages: Record<PageName, PageRows>;
  /** A feed over the whole table, half way down: the OFFSET a global list pays. */
  global: { offsetAt: number; keyset: Measured; offset: Measured };
}

async function plan(ds: DataSource, sql: string, params: unknown[]): Promise<string> {
  const rows = (await ds.query(`EXPLAIN ${sql}`, params)) as { type: string; key: string | null; Extra: string | null }[];
  return rows.map((r) => `${r.type} on ${r.key ?? 'no index'}${r.Extra ? ` (${r.Extra})` : ''}`).join('; ');
}

async function measured(ds: DataSource, sql: string, params: unknown[]): Promise<Measured> {
  const cost = await costOf(ds, () => ds.query(sql, params));
  return { cost, plan: await plan(ds, sql, params), sql, params };
}

/** The id of the `n`th newest order of the measured user (with `status`), or of the whole table. */
async function nth(ds: DataSource, n: number, status?: string, everyone = false): Promise<Buffer> {
  const where = everyone ? '' : `WHERE user_id = ?${status ? ' AND status = ?' : ''}`;
  const params = everyone ? [] : status ? [USER, status] : [USER];
  const [row] = (await ds.query(`SELECT id FROM orders ${where} ORDER BY id DESC LIMIT 1 OFFSET ${n - 1}`, params)) as { id: Buffer }[];
  if (!row) throw new Error(`there is no ${n}th order${everyone ? '' : ` of the measured user${status ? ` with status ${status}` : ''}`}`);
  return row.id;
}

/** The repository's page reads need no writer; a create through it here would fail loudly. */
const READS_ONLY: OneTripTransactions = Object.freeze({ run: () => Promise.reject(new Error('bench:orders reads pages only')), close: async () => undefined });

/** The repository's page() with each of its statements measured on its own. */
async function pageRows(ds: DataSource, page: Page): Promise<PageRows> {
  const status = 'status' in page ? page.status : undefined;
  const beforeId = page.after > 0 ? binaryToUuid(await nth(ds, page.after, status)) : undefined;
  const statements: { sql: string; params: unknown[] }[] = [];
  const recorder = {
    query: (sql: string, params: unknown[]) => {
      statements.push({ sql, params });
      return ds.query(sql, params);
    },
  };
  await ordersRepository(() => ds, READS_ONLY).page({ userId: MEASURED_USER, status, beforeId, take: TAKE }, recorder as unknown as DataSource);
  const [orders, items] = statements;
  if (statements.length !== 2 || !orders || !items) throw new Error(`a page took ${statements.length} statements; the bench expects the orders, then their items`);
  const offsetSql = `SELECT ${COLUMNS} FROM orders WHERE user_id = ?${status ? ' AND status = ?' : ''} ORDER BY id DESC LIMIT ${TAKE} OFFSET ${page.after}`;
  return {
    keyset: await measured(ds, orders.sql, orders.params),
    items: await measured(ds, items.sql, items.params),
    offset: await measured(ds, offsetSql, status ? [USER, status] : [USER]),
  };
}

export async function sqlFigures(ds: DataSource, totalOrders: number): Promise<SqlFigures> {
  const pages = {} as Record<PageName, PageRows>;
  for (const page of PAGES) pages[page.name] = await pageRows(ds, page);
  const offsetAt = Math.floor(totalOrders / 2);
  const global = {
    offsetAt,
    keyset: await measured(ds, `SELECT ${COLUMNS} FROM orders WHERE id < ? ORDER BY id DESC LIMIT ${TAKE}`, [await nth(ds, offsetAt, undefined, true)]),
    offset: await measured(ds, `SELECT ${COLUMNS} FROM orders ORDER BY id DESC LIMIT ${TAKE} OFFSET ${offsetAt}`, []),
  };
  return { pages, global };
}

export const WHOLE_TABLE = 'whole table, half way';

/** The orders statements measured above, to be timed: keyset and OFFSET for every page. */
export function sqlOps(ds: DataSource, f: SqlFigures): Record<string, () => Promise<unknown>> {
  const ops: Record<string, () => Promise<unknown>> = {};
  const pairs: [string, Measured, Measured][] = [
    ...PAGES.map(({ name }): [string, Measured, Measured] => [name, f.pages[name].keyset, f.pages[name].offset]),
    [WHOLE_TABLE, f.global.keyset, f.global.offset],
  ];
  for (const [name, keyset, offset] of pairs) {
    ops[`keyset: ${name}`] = () => ds.query(keyset.sql, keyset.params);
    ops[`OFFSET: ${name}`] = () => ds.query(offset.sql, offset.params);
  }
  return ops;
}
