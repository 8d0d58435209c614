import type { OrderStatus } from '@platform/contracts';
import { binaryToUuid, moneyOf, uuidToBinary, type OneTripTransactions } from '@platform/db';
import type { DataSource, EntityManager } from 'typeorm';

export interface OrderItem {
  sku: string;
  name: string;
  unitPrice: number;
  quantity: number;
  lineTotal: number;
}

export interface Order {
  id: string;
  userId: string;
  status: OrderStatus;
  currency: string;
  totalAmount: number;
  items: OrderItem[];
  version: number;
  createdAt: Date;
  updatedAt: Date;
  /** When it became PAID; null if it never was (or was paid before the column existed). */
  paidAt: Date | null;
}

interface OrderRow {
  id: Buffer;
  user_id: Buffer;
  status: OrderStatus;
  currency: string;
  total_amount: string | number;
  version: number;
  created_at: Date;
  updated_at: Date;
  paid_at: Date | null;
}

interface ItemRow {
  order_id: Buffer;
  sku: string;
  name: string;
  unit_price: string | number;
  quantity: number;
  line_total: string | number;
}

type Db = DataSource | EntityManager;

const ORDER_COLUMNS = 'id, user_id, status, currency, total_amount, version, created_at, updated_at, paid_at';
const ITEM_COLUMNS = 'order_id, sku, name, unit_price, quantity, line_total';
/** ORDER_COLUMNS of `orders o`, for a statement that joins it. */
const ORDER_COLUMNS_OF_O = ORDER_COLUMNS.split(', ')
  .map((column) => `o.${column}`)
  .join(', ');

function toItem(row: Omit<ItemRow, 'order_id'>): OrderItem {
  return { sku: row.sku, name: row.name, unitPrice: moneyOf(row.unit_price), quantity: Number(row.quantity), lineTotal: moneyOf(row.line_total) };
}

function toOrder(row: OrderRow, items: OrderItem[]): Order {
  return {
    id: binaryToUuid(row.id),
    userId: binaryToUuid(row.user_id),
    status: row.status,
    currency: row.currency,
    totalAmount: moneyOf(row.total_amount),
    items,
    version: Number(row.version),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    paidAt: row.paid_at,
  };
}

export interface PageQuery {
  userId: string;
  status?: OrderStatus;
  /** Orders older than this id (the previous page's last). */
  beforeId?: string;
  /** Rows to read: the page size plus one, to learn whether another page follows. */
  take: number;
}

/**
 * Orders and their items in MySQL. `ds` is read per query: the pool may connect after start.
 * `oneTrip` sends a create's transaction in one round trip (ADR 0022).
 */
export function ordersRepository(ds: () => DataSource, oneTrip: OneTripTransactions) {
  /** The items of these orders, one query, in line order. */
  async function itemsOf(db: Db, ids: Buffer[]): Promise<Map<string, OrderItem[]>> {
    const byOrder = new Map<string, OrderItem[]>();
    if (ids.length === 0) return byOrder;
    const rows = (await db.query(
      `SELECT ${ITEM_COLUMNS} FROM order_items WHERE order_id IN (${ids.map(() => '?').join(', ')}) ORDER BY order_id, line_no`,
      ids,
    )) as ItemRow[];
    for (const row of rows) {
      const key = row.order_id.toString('hex');
      const list = byOrder.get(key) ?? [];
      list.push(toItem(row));
      byOrder.set(key, list);
    }
    return byOrder;
  }

  async function withItems(db: Db, rows: OrderRow[]): Promise<Order[]> {
    const items = await itemsOf(db, rows.map((r) => r.id));
    return rows.map((row) => toOrder(row, items.get(row.id.toString('hex')) ?? []));
  }

  return Object.freeze({
    /**
     * The order and all its items in one transaction of four statements, whatever the item
     * count, sent as one query: START TRANSACTION, one INSERT of the order, one multi-row INSERT
     * of the items, COMMIT. When an insert fails, nothing of the order is stored.
     */
    async insert(order: Omit<Order, 'version' | 'paidAt'>): Promise<Order> {
      const id = uuidToBinary(order.id);
      const lines = order.items.map((item, i) => [id, i + 1, item.sku, item.name, item.unitPrice, item.quantity, item.lineTotal]);
      await oneTrip.run([
        {
          sql: 'INSERT INTO orders (id, user_id, status, currency, total_amount, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)',
          values: [id, uuidToBinary(order.userId), order.status, order.currency, order.totalAmount, order.createdAt, order.updatedAt],
        },
        {
          sql: `INSERT INTO order_items (order_id, line_no, sku, name, unit_price, quantity, line_total) VALUES ${lines.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
          values: lines.flat(),
        },
      ]);
      return { ...order, version: 1, paidAt: null };
    },

    /** The order and its items in one statement: a row per item (an order has at least one), in line order. */
    async findById(id: string, db: Db = ds()): Promise<Order | undefined> {
      const rows = (await db.query(
        `SELECT ${ORDER_COLUMNS_OF_O}, i.sku, i.name, i.unit_price, i.quantity, i.line_total
         FROM orders o LEFT JOIN order_items i ON i.order_id = o.id WHERE o.id = ? ORDER BY i.line_no`,
        [uuidToBinary(id)],
      )) as (OrderRow & Omit<ItemRow, 'order_id'>)[];
      const first = rows[0];
      if (!first) return undefined;
      // sku is NULL only on the LEFT JOIN's row of an order without items.
      return toOrder(first, rows.filter((row) => row.sku !== null).map(toItem));
    },

    /**
     * A user's orders, newest first, after a cursor: a backward range scan of
     * (user_id, id) or (user_id, status, id) that reads `take` rows and stops.
     */
    async page({ userId, status, beforeId, take }: PageQuery, db: Db = ds()): Promise<Order[]> {
      const where = ['user_id = ?'];
      const params: unknown[] = [uuidToBinary(userId)];
      if (status) {
        where.push('status = ?');
        params.push(status);
      }
      if (beforeId) {
        where.push('id < ?');
        params.push(uuidToBinary(beforeId));
      }
      // Pinned: with few rows for a user the optimizer may pick the other index and sort.
      const index = status ? 'ix_orders_user_status' : 'ix_orders_user';
      const rows = (await db.query(`SELECT ${ORDER_COLUMNS} FROM orders FORCE INDEX (${index}) WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`, [
        ...params,
        take,
      ])) as OrderRow[];
      return withItems(db, rows);
    },

    /**
     * Moves the order from one of `from` to `to` in one conditional UPDATE, so of two
     * transitions racing from the same state exactly one changes the row. True if it did.
     * With `versions`, only from one of those versions (optimistic concurrency: a change
     * committed since the caller read the order makes this one change nothing).
     */
    async transition(
      id: string,
      from: readonly OrderStatus[],
      to: OrderStatus,
      { db = ds(), ownerId, versions }: { db?: Db; ownerId?: string; versions?: readonly number[] } = {},
    ): Promise<boolean> {
      if (versions?.length === 0) return false;
      const now = new Date();
      // A live stream that missed PAID sends it from this (see the migration that added it).
      const paidAt = to === 'PAID' ? ', paid_at = ?' : '';
      const params: unknown[] = [to, now, ...(paidAt ? [now] : []), uuidToBinary(id), ...from];
      let conditions = '';
      if (ownerId) {
        conditions += ' AND user_id = ?';
        params.push(uuidToBinary(ownerId));
      }
      if (versions) {
        conditions += ` AND version IN (${versions.map(() => '?').join(', ')})`;
        params.push(...versions);
      }
      // query() answers an UPDATE with mysql2's result header.
      const { affectedRows } = (await db.query(
        `UPDATE orders SET status = ?, version = version + 1, updated_at = ?${paidAt} WHERE id = ? AND status IN (${from.map(() => '?').join(', ')})${conditions}`,
        params,
      )) as { affectedRows: number };
      return affectedRows === 1;
    },

    /** The current version of each of these orders that exists, in one query: what a live stream checks it has not missed. */
    async versionsOf(ids: readonly string[], db: Db = ds()): Promise<Map<string, number>> {
      const versions = new Map<string, number>();
      if (ids.length === 0) return versions;
      const rows = (await db.query(`SELECT id, version FROM orders WHERE id IN (${ids.map(() => '?').join(', ')})`, ids.map(uuidToBinary))) as Pick<
        OrderRow,
        'id' | 'version'
      >[];
      for (const row of rows) versions.set(binaryToUuid(row.id), Number(row.version));
      return versions;
    },

    /** The status alone, for deciding what an event that changed nothing means. */
    async statusOf(id: string, db: Db = ds()): Promise<{ status: OrderStatus; userId: string } | undefined> {
      const rows = (await db.query('SELECT status, user_id FROM orders WHERE id = ?', [uuidToBinary(id)])) as Pick<OrderRow, 'status' | 'user_id'>[];
      const row = rows[0];
      return row ? { status: row.status, userId: binaryToUuid(row.user_id) } : undefined;
    },
  });
}

export type OrdersRepository = ReturnType<typeof ordersRepository>;
