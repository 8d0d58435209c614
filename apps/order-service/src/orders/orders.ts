import type { OrderView } from '@platform/contracts';
import { isUuid, newId, uuidTime, type Reads, type WriteMarks } from '@platform/db';
import { createCache, keySpace } from '@platform/redis';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { ORDER_LIMITS, type CreateOrderBody, type ListOrdersQuery, type OrderPage } from '../schemas';
import { decodeCursor, encodeCursor } from './cursor';
import { OrderChanged, OrderNotCancellable, OrderNotFound, OrderTotalTooLarge } from './errors';
import type { Order, OrderItem, OrdersRepository } from './orders-repository';

export interface OrdersSettings {
  cacheTtlSeconds: number;
  /** Tells the live status streams of every instance that the order changed (live/order-feed.ts). */
  announce: (orderId: string) => Promise<void>;
  /** Where reads that may go to a replica go (libs/db readRouter). */
  reads: Reads;
  /** "This user wrote" (with replicas only): set for an order's owner before its cache entry is dropped. */
  marks?: WriteMarks;
}

/** How long and how often a failed invalidation is tried again: until the entry would have expired anyway. */
const RETRY_INVALIDATION_EVERY_MS = 1_000;

/**
 * The order as answered, with the row's version (its ETag; the body's schema leaves it out). The
 * cache holds this, so that a cached read answers If-None-Match without MySQL.
 */
export type VersionedOrder = OrderView & { version: number };

export function toView(order: Order): VersionedOrder {
  return {
    id: order.id,
    userId: order.userId,
    status: order.status,
    currency: order.currency,
    totalAmount: order.totalAmount,
    items: order.items.map(({ sku, name, unitPrice, quantity, lineTotal }) => ({ sku, name, unitPrice, quantity, lineTotal })),
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
    version: order.version,
  };
}

/** Line totals and the total in integers; the limits keep them far below 2^53, and this checks it. */
export function priced(items: CreateOrderBody['items']): { items: OrderItem[]; totalAmount: number } {
  let totalAmount = 0;
  const lines = items.map((item) => {
    const lineTotal = item.unitPrice * item.quantity;
    totalAmount += lineTotal;
    if (!Number.isSafeInteger(lineTotal) || !Number.isSafeInteger(totalAmount)) throw new OrderTotalTooLarge();
    return { sku: item.sku, name: item.name, unitPrice: item.unitPrice, quantity: item.quantity, lineTotal };
  });
  return { items: lines, totalAmount };
}

/**
 * Drops cached orders after a change. A failed drop (Redis down) is not the caller's
 * failure, since the change is committed: it is tried again every second until it lands
 * or the entry would have expired, so a reader never gets the old state once Redis is
 * back for more than a moment. Reads meanwhile go to MySQL (the cache fails open).
 */
function invalidator(delete_: (id: string) => Promise<void>, log: FastifyBaseLogger, giveUpAfterMs: number) {
  const timers = new Set<NodeJS.Timeout>();
  function retry(id: string, since: number) {
    const timer = setTimeout(() => {
      timers.delete(timer);
      delete_(id).catch(() => {
        if (Date.now() - since < giveUpAfterMs) retry(id, since);
        else log.error({ orderId: id }, 'cached order could not be invalidated before its TTL; it expired instead');
      });
    }, RETRY_INVALIDATION_EVERY_MS).unref();
    timers.add(timer);
  }
  return {
    async invalidate(id: string): Promise<void> {
      try {
        await delete_(id);
      } catch (err) {
        log.warn({ err, orderId: id }, 'cached order not invalidated; retrying in the background');
        retry(id, Date.now());
      }
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

/** Orders: create, read (cached, owner-checked), list by cursor, cancel. */
export function createOrders(app: FastifyInstance, orders: OrdersRepository, s: OrdersSettings) {
  const cache = createCache<VersionedOrder | undefined>({
    client: app.redis,
    keys: keySpace(app.redisKeyPrefix),
    name: 'orders',
    defaultTtlSeconds: s.cacheTtlSeconds,
    registry: app.metrics,
    logger: app.log,
  });
  const invalidation = invalidator((id) => cache.delete(id), app.log, s.cacheTtlSeconds * 1000);
  app.addHook('onClose', async () => invalidation.close());

  /**
   * After a committed change: the owner marked as a writer, then the cache entry dropped, and the
   * live streams told. The mark comes first: a cache fill that began after the drop reads the
   * owner's mark, so it never stores a replica's older copy (ADR 0020). A lost mark or
   * announcement is not the caller's failure either: the streams' own sweep finds the change.
   */
  async function changed(id: string, ownerId?: string): Promise<void> {
    if (ownerId && s.marks) {
      await s.marks.mark(ownerId).catch((err: unknown) => app.log.warn({ err, orderId: id }, 'order owner not marked as a writer; replicas may answer its next reads'));
    }
    await Promise.all([
      invalidation.invalidate(id),
      s.announce(id).catch((err: unknown) => app.log.warn({ err, orderId: id }, 'order change not announced to live streams; their sweep will find it')),
    ]);
  }

  /**
   * The order if it exists and is the user's; another user's is exactly as absent as a missing
   * one. The owner is checked on the order itself, cached or read from MySQL. `store: false`: a
   * miss is read from MySQL and not put in the cache (the caller asked `Cache-Control: no-store`).
   */
  async function owned(userId: string, id: string, prefetched?: string | null, { store = true }: { store?: boolean } = {}): Promise<VersionedOrder> {
    if (!isUuid(id)) throw new OrderNotFound();
    // A replica may answer unless the owner wrote within the bound; an order absent there is asked of the primary.
    const load = async () => {
      const found = await s.reads.run((db) => orders.findById(id, db), { ownersOf: (o) => (o ? [o.userId] : undefined) });
      return found && toView(found);
    };
    let order = store ? await cache.getOrLoad(id, load, { prefetched }) : await cache.getOrRead(id, load, { prefetched });
    if (order && typeof order.version !== 'number') {
      // An entry written before entries carried the version: dropped, so the next read stores one that does.
      await cache.delete(id).catch(() => undefined);
      order = await load();
    }
    if (!order || order.userId !== userId) throw new OrderNotFound();
    return order;
  }

  return Object.freeze({
    changed,

    async create(userId: string, body: CreateOrderBody): Promise<VersionedOrder> {
      const { items, totalAmount } = priced(body.items);
      const id = newId();
      // The id's own timestamp, so that id order is creation order (see the migration).
      const createdAt = new Date(uuidTime(id));
      const order = await orders.insert({ id, userId, status: 'PENDING', currency: body.currency, totalAmount, items, createdAt, updatedAt: createdAt });
      return toView(order);
    },

    get: owned,

    /** The order's cache entry, for the request pipeline to read with the token's check (a hit then costs one command). */
    readAheadKeys: (id: string) => (isUuid(id) ? [cache.valueKey(id)] : undefined),

    async list(userId: string, query: ListOrdersQuery): Promise<OrderPage> {
      // Validation fills the default in; the type says the query may leave it out.
      const { limit = ORDER_LIMITS.defaultPageSize, status } = query;
      const after = query.cursor === undefined ? undefined : decodeCursor(userId, query.cursor, status);
      const rows = await s.reads.run((db) => orders.page({ userId, status, beforeId: after?.beforeId, take: limit + 1 }, db), { users: [userId] });
      const data = rows.slice(0, limit).map(toView);
      const last = data.at(-1);
      return { data, nextCursor: rows.length > limit && last ? encodeCursor(userId, { beforeId: last.id, status }) : null };
    },

    /**
     * Only from PENDING, in one conditional UPDATE: a cancel racing a payment event cannot both win.
     * With `versions` (the request's If-Match), only from one of them: a change committed since the
     * caller read the order, a concurrent cancel included, makes this one OrderChanged.
     */
    async cancel(userId: string, id: string, versions?: readonly number[]): Promise<VersionedOrder> {
      if (!isUuid(id)) throw new OrderNotFound();
      const cancelled = await orders.transition(id, ['PENDING'], 'CANCELLED', { ownerId: userId, versions });
      if (cancelled) await changed(id, userId);
      const order = await orders.findById(id);
      if (!order || order.userId !== userId) throw new OrderNotFound();
      if (!cancelled && versions && !versions.includes(order.version)) throw new OrderChanged();
      if (!cancelled) throw new OrderNotCancellable(order.status);
      return toView(order);
    },
  });
}

export type Orders = ReturnType<typeof createOrders>;
