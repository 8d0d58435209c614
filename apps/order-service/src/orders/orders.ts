import type { OrderView } from '@platform/contracts';
import { isUuid, newId, uuidTime } from '@platform/db';
import { createCache, keySpace, type Prefetch, type Prefetched } from '@platform/redis';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { CreateOrderBody, ListOrdersQuery, OrderPage } from '../schemas';
import { decodeCursor, encodeCursor } from './cursor';
import { OrderNotCancellable, OrderNotFound, OrderTotalTooLarge } from './errors';
import type { Order, OrderItem, OrdersRepository } from './orders-repository';

declare module 'fastify' {
  interface FastifyRequest {
    /** The order's cache entry as the request's guard script read it (see `prefetch`), for its handler. */
    orderReadAhead?: Prefetched;
  }
}

export interface OrdersSettings {
  cacheTtlSeconds: number;
}

/** How long and how often a failed invalidation is tried again: until the entry would have expired anyway. */
const RETRY_INVALIDATION_EVERY_MS = 1_000;

function toView(order: Order): OrderView {
  return {
    id: order.id,
    userId: order.userId,
    status: order.status,
    currency: order.currency,
    totalAmount: order.totalAmount,
    items: order.items.map(({ sku, name, unitPrice, quantity, lineTotal }) => ({ sku, name, unitPrice, quantity, lineTotal })),
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}

/**
 * How the JSON of `id`'s view begins when `userId` owns it: toView's first two fields, as
 * JSON.stringify writes them (the cache stores that JSON). A cached entry that starts so is that
 * user's order, which a read-ahead hit is served on without being parsed.
 */
export function ownedViewPrefix(id: string, userId: string): string {
  return `{"id":${JSON.stringify(id)},"userId":${JSON.stringify(userId)},`;
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
  const cache = createCache<OrderView | undefined>({
    client: app.redis,
    keys: keySpace(app.redisKeyPrefix),
    name: 'orders',
    defaultTtlSeconds: s.cacheTtlSeconds,
    registry: app.metrics,
    logger: app.log,
  });
  const invalidation = invalidator((id) => cache.delete(id), app.log, s.cacheTtlSeconds * 1000);
  app.addHook('onClose', async () => invalidation.close());

  // A field of every request, not a WeakMap: an entry per request in a WeakMap costs the garbage collector more.
  app.decorateRequest('orderReadAhead', undefined);

  /** The order if it exists and is the user's; another user's is exactly as absent as a missing one. */
  async function owned(userId: string, id: string, request?: FastifyRequest): Promise<OrderView> {
    const prefetched = request?.orderReadAhead;
    // Only a UUID's entry is read ahead (see prefetch): a second test would find the same.
    if (prefetched === undefined && !isUuid(id)) throw new OrderNotFound();
    const order = await cache.getOrLoad(
      id,
      async () => {
        const found = await orders.findById(id);
        return found && toView(found);
      },
      { prefetched },
    );
    if (!order || order.userId !== userId) throw new OrderNotFound();
    return order;
  }

  return Object.freeze({
    invalidate: invalidation.invalidate,

    async create(userId: string, body: CreateOrderBody): Promise<OrderView> {
      const { items, totalAmount } = priced(body.items);
      const id = newId();
      // The id's own timestamp, so that id order is creation order (see the migration).
      const createdAt = new Date(uuidTime(id));
      const order = await orders.insert({ id, userId, status: 'PENDING', currency: body.currency, totalAmount, items, createdAt, updatedAt: createdAt });
      return toView(order);
    },

    get: owned,

    /**
     * The body of a cached read answered as stored, unparsed: the entry read ahead by the request's
     * guard when it is the signed-in user's order, else undefined (the handler then reads as
     * usual, and answers 404 for another user's order). The entry is the JSON of the view as the
     * route's response schema has it (OrderView: the same fields, in the same order, and no
     * others), so parsing it and serialising it again would only copy it.
     */
    readAheadAnswer(request: FastifyRequest, id: string): string | undefined {
      const raw = request.orderReadAhead?.raw;
      if (raw == null || request.auth === undefined || !raw.startsWith(ownedViewPrefix(id, request.auth.userId))) return undefined;
      cache.countHit();
      return raw;
    },

    /**
     * The order's cache entry, read by the request's revocation and rate-limit script: a cached
     * read then costs one Redis command in all and no SQL (the owner check runs on it).
     */
    prefetch(request: FastifyRequest, id: string): Prefetch | undefined {
      if (!isUuid(id)) return undefined;
      return {
        keys: [cache.valueKey(id)],
        take: (values) => {
          if (values) request.orderReadAhead = { raw: values[0] ?? null };
        },
      };
    },

    async list(userId: string, query: ListOrdersQuery): Promise<OrderPage> {
      const { limit, status } = query;
      const after = query.cursor === undefined ? undefined : decodeCursor(userId, query.cursor, status);
      const rows = await orders.page({ userId, status, beforeId: after?.beforeId, take: limit + 1 });
      const data = rows.slice(0, limit).map(toView);
      const last = data.at(-1);
      return { data, nextCursor: rows.length > limit && last ? encodeCursor(userId, { beforeId: last.id, status }) : null };
    },

    /** Only from PENDING, in one conditional UPDATE: a cancel racing a payment event cannot both win. */
    async cancel(userId: string, id: string): Promise<OrderView> {
      if (!isUuid(id)) throw new OrderNotFound();
      const cancelled = await orders.transition(id, ['PENDING'], 'CANCELLED', { ownerId: userId });
      if (cancelled) await invalidation.invalidate(id);
      const order = await orders.findById(id);
      if (!order || order.userId !== userId) throw new OrderNotFound();
      if (!cancelled) throw new OrderNotCancellable(order.status);
      return toView(order);
    },
  });
}

export type Orders = ReturnType<typeof createOrders>;
