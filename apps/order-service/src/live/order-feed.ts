import { randomUUID } from 'node:crypto';
import type { OrderStatus, OrderView } from '@platform/contracts';
import { isUuid } from '@platform/db';
import { createBroadcast, createLeases, keySpace, type Revocation } from '@platform/redis';
import type { AuthContext, EventStream } from '@platform/service-kit';
import type { FastifyInstance } from 'fastify';
import { Gauge } from 'prom-client';
import { OrderNotFound, TooManyStreams } from '../orders/errors';
import type { Order, OrdersRepository } from '../orders/orders-repository';
import { toView } from '../orders/orders';

/**
 * Live order status (CONTRACT.md, Orders, "Live status"): each open stream follows one order and
 * is sent every version of it it has not seen yet.
 *
 * - Whoever commits a change (a cancel, a payment event) announces the order's id on one Redis
 *   pub/sub channel; every instance hears it and, if it holds streams of that order, reads the
 *   order once from MySQL and sends each stream what it lacks. What is sent comes from MySQL, never
 *   from the message or the cache: a late, repeated or lost announcement cannot send a wrong state.
 * - Pub/sub delivers at most once. What it loses is found again: after the subscriber reconnects
 *   (a Redis restart) every followed order is read again, and every `heartbeatMs` the versions of
 *   all followed orders are read in one query and any that moved are sent.
 * - An order's versions are its status changes (1 PENDING; 2 PAID, CANCELLED or REFUNDED; 3
 *   REFUNDED after PAID). A stream that last saw version 1 and finds 3 is sent the PAID of version 2
 *   too, from the order's `paid_at`: nothing is skipped, and ids only grow, so Last-Event-ID resumes
 *   without repetition.
 * - Each stream holds a lease in Redis (libs/redis leases.ts): at most `perUserLimit` per user
 *   across every instance.
 * - Every `checkMs` each stream's token is checked again: revoked (or the check cannot be made,
 *   failing closed) or expired ends the stream. A final state (REFUNDED, CANCELLED) ends it once
 *   sent. Closing the app ends every stream; clients reconnect elsewhere with Last-Event-ID.
 */

export const FINAL_STATUSES: readonly OrderStatus[] = ['REFUNDED', 'CANCELLED'];

export interface FeedSettings {
  perUserLimit: number;
  /** Comment lines, lease renewal and the version sweep. */
  heartbeatMs: number;
  /** Token revocation and expiry. */
  checkMs: number;
  /** A lease not renewed for this long stops counting (its instance died). */
  leaseMs: number;
}

export const FEED_DEFAULTS: FeedSettings = Object.freeze({ perUserLimit: 10, heartbeatMs: 15_000, checkMs: 2_000, leaseMs: 45_000 });

/** One change as a stream sends it: `id` the version, `data` the order then. */
export interface StatusEvent {
  version: number;
  order: OrderView;
}

/**
 * What a stream that has seen up to version `after` (undefined: nothing yet) is owed of `order`:
 * nothing when it is current; the current state alone for a new stream; otherwise every version
 * after `after`, the PAID of a REFUNDED order included when it is known.
 */
export function owed(order: Order, after: number | undefined): StatusEvent[] {
  const { version: _version, ...view } = toView(order);
  const current = { version: order.version, order: view };
  if (after === undefined || after > order.version) return [current];
  if (after === order.version) return [];
  const events: StatusEvent[] = [];
  const paidVersion = order.version - 1;
  if (order.status === 'REFUNDED' && order.paidAt && after < paidVersion) {
    events.push({ version: paidVersion, order: { ...current.order, status: 'PAID', updatedAt: order.paidAt.toISOString() } });
  }
  events.push(current);
  return events;
}

/**
 * Writes the events, `event: order.status` with the version as `id`, and ends the stream after a
 * final state. Answers the last version written (`seen` when none was).
 */
export function writeEvents(stream: EventStream, events: readonly StatusEvent[], seen = 0): number {
  for (const { version, order } of events) {
    if (!stream.send({ event: 'order.status', id: String(version), data: order })) break;
    seen = version;
    if (FINAL_STATUSES.includes(order.status)) stream.close();
  }
  return seen;
}

interface Follower {
  id: string;
  auth: AuthContext;
  orderId: string;
  /** The highest version sent. */
  seen: number;
  stream: EventStream;
}

/** The streams of one order on this instance, and the read that brings them up to date. */
interface Followed {
  followers: Set<Follower>;
  /** Streams being opened: the entry stays while any is. */
  opening: number;
  /** Announcements heard so far: an opening stream compares it before and after its first read. */
  heard: number;
  reading?: Promise<void>;
  again: boolean;
}

/** Where an opening stream stands before it is registered (see `open`). */
export type Opening =
  | { kind: 'none' }
  | { kind: 'final'; events: StatusEvent[] }
  | { kind: 'open'; /** Sends the events owed on the stream and follows the order on it. */ attach(stream: EventStream): void };

export function createOrderFeed(app: FastifyInstance, deps: { orders: OrdersRepository; revocation: Revocation; settings?: Partial<FeedSettings> }) {
  const s = { ...FEED_DEFAULTS, ...deps.settings };
  const { orders, revocation } = deps;
  const keys = keySpace(app.redisKeyPrefix);
  const leases = createLeases({ client: app.redis, keys, name: 'streams', limit: s.perUserLimit, leaseMs: s.leaseMs });
  const followed = new Map<string, Followed>();
  const open = new Gauge({ name: 'order_streams_open', help: 'Live order-status streams open on this instance.', registers: [app.metrics] });
  const broadcast = createBroadcast({
    client: app.redis,
    channel: keys.channel('order-status'),
    onMessage: (orderId) => heard(orderId),
    onResync: () => {
      app.log.info({ orders: followed.size }, 'order-status subscription back: reading every followed order again');
      for (const orderId of followed.keys()) void refresh(orderId);
    },
    logger: app.log,
  });

  function heard(orderId: string): void {
    const entry = followed.get(orderId);
    if (!entry) return;
    entry.heard++;
    void refresh(orderId);
  }

  /** Reads the order and sends each of its streams what it lacks; one read at a time per order, and one more if asked meanwhile. */
  function refresh(orderId: string): Promise<void> {
    const entry = followed.get(orderId);
    if (!entry) return Promise.resolve();
    if (entry.reading) {
      entry.again = true;
      return entry.reading;
    }
    entry.reading = (async () => {
      do {
        entry.again = false;
        if (entry.followers.size === 0) break;
        let order: Order | undefined;
        try {
          order = await orders.findById(orderId);
        } catch (err) {
          // The version sweep tries again.
          app.log.warn({ err, orderId }, 'live status: the order could not be read; the next sweep tries again');
          break;
        }
        if (order) for (const follower of entry.followers) deliver(follower, owed(order, follower.seen));
      } while (entry.again);
      entry.reading = undefined;
      forgetIfIdle(orderId);
    })();
    return entry.reading;
  }

  function deliver(follower: Follower, events: StatusEvent[]): void {
    follower.seen = writeEvents(follower.stream, events, follower.seen);
  }

  function forgetIfIdle(orderId: string): void {
    const entry = followed.get(orderId);
    if (entry && entry.followers.size === 0 && entry.opening === 0 && !entry.reading) followed.delete(orderId);
  }

  function detach(follower: Follower): void {
    const entry = followed.get(follower.orderId);
    if (!entry?.followers.delete(follower)) return;
    open.dec();
    forgetIfIdle(follower.orderId);
    leases.release(follower.auth.userId, follower.id).catch(() => undefined);
  }

  /**
   * Every `checkMs`: tokens revoked or expired since their stream opened end it. Streams of one token
   * (a client following several orders) share one check.
   */
  async function checkTokens(): Promise<void> {
    const now = Date.now();
    const verdicts = new Map<string, Promise<string | undefined>>();
    const verdictOf = (auth: AuthContext) => {
      let verdict = verdicts.get(auth.tokenId);
      if (!verdict) {
        const query = { userId: auth.userId, jti: auth.tokenId, sessionId: auth.sessionId, issuedAtMs: auth.issuedAtMs };
        verdict =
          auth.expiresAt * 1000 <= now
            ? Promise.resolve('the token expired')
            : revocation.isRevoked(query).then(
                (revoked) => (revoked ? 'the token was revoked' : undefined),
                () => 'the token cannot be checked (Redis unavailable); reconnect',
              );
        verdicts.set(auth.tokenId, verdict);
      }
      return verdict;
    };
    const all = [...followed.values()].flatMap((entry) => [...entry.followers]);
    await Promise.all(
      all.map(async ({ auth, stream }) => {
        const reason = await verdictOf(auth);
        if (reason && !stream.closed) {
          stream.comment(`closed: ${reason}`);
          stream.close();
        }
      }),
    );
  }

  /** Every `heartbeatMs`: a comment on every stream, the leases renewed, and any order that moved unheard sent. */
  async function heartbeat(): Promise<void> {
    const byUser = new Map<string, string[]>();
    for (const entry of followed.values()) {
      for (const follower of entry.followers) {
        follower.stream.comment('keep-alive');
        const ids = byUser.get(follower.auth.userId);
        if (ids) ids.push(follower.id);
        else byUser.set(follower.auth.userId, [follower.id]);
      }
    }
    await Promise.all([...byUser].map(([userId, ids]) => leases.renew(userId, ids).catch(() => undefined)));
    const ids = [...followed.keys()];
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      const versions = await orders.versionsOf(batch).catch(() => undefined);
      if (!versions) return;
      for (const id of batch) {
        const entry = followed.get(id);
        const version = versions.get(id);
        if (entry && version !== undefined && [...entry.followers].some((f) => f.seen < version)) void refresh(id);
      }
    }
  }

  /** A sweep that has not finished (Redis or MySQL slow) is not started again on top of itself. */
  const every = (ms: number, sweep: () => Promise<void>) => {
    let running = false;
    return setInterval(() => {
      if (running) return;
      running = true;
      sweep()
        .catch((err: unknown) => app.log.warn({ err }, 'live status sweep failed'))
        .finally(() => (running = false));
    }, ms).unref();
  };
  const timers: NodeJS.Timeout[] = [];
  /** Set once the app closes: a stream attached after that (its request was being answered) is closed at once. */
  let closing = false;
  const shutDown = (stream: EventStream) => {
    stream.comment('closed: the server is shutting down; reconnect');
    stream.close();
  };
  app.addHook('onReady', async () => {
    await broadcast.start();
    timers.push(every(s.checkMs, checkTokens), every(s.heartbeatMs, heartbeat));
  });
  // Before the server stops taking connections: streams never end by themselves, and close() would wait for them.
  app.addHook('preClose', async () => {
    closing = true;
    for (const entry of followed.values()) {
      for (const { stream } of entry.followers) shutDown(stream);
    }
  });
  app.addHook('onClose', async () => {
    for (const timer of timers) clearInterval(timer);
    await broadcast.close();
  });

  return Object.freeze({
    /** After a change of the order is committed (or an event about it handled): every instance's streams of it look again. */
    async announce(orderId: string): Promise<void> {
      await broadcast.publish(orderId);
    },

    /**
     * A stream of the user's order, as far as it can be known before it is answered: the events it
     * is owed since `lastEventId`, and whether it stays open. Interest in the order is taken before
     * the read, so that a change committed while it runs is read again once the stream is attached.
     * Throws OrderNotFound (another user's order too) and TooManyStreams.
     */
    async open(auth: AuthContext, orderId: string, lastEventId: number | undefined): Promise<Opening> {
      if (!isUuid(orderId)) throw new OrderNotFound();
      let entry = followed.get(orderId);
      if (!entry) followed.set(orderId, (entry = { followers: new Set(), opening: 0, heard: 0, again: false }));
      const target = entry;
      target.opening++;
      const before = target.heard;
      let pending = true;
      const forget = () => {
        if (!pending) return;
        pending = false;
        target.opening--;
        forgetIfIdle(orderId);
      };
      let order: Order | undefined;
      try {
        order = await orders.findById(orderId);
      } catch (err) {
        forget();
        throw err;
      }
      if (!order || order.userId !== auth.userId) {
        forget();
        throw new OrderNotFound();
      }
      const events = owed(order, lastEventId);
      if (FINAL_STATUSES.includes(order.status)) {
        forget();
        return events.length === 0 ? { kind: 'none' } : { kind: 'final', events };
      }
      const id = randomUUID();
      let admitted: boolean;
      try {
        admitted = await leases.acquire(auth.userId, id);
      } catch (err) {
        forget();
        throw err;
      }
      if (!admitted) {
        forget();
        throw new TooManyStreams(s.perUserLimit);
      }
      return {
        kind: 'open',
        attach(stream: EventStream) {
          const follower: Follower = { id, auth, orderId, seen: lastEventId ?? 0, stream };
          target.followers.add(follower);
          pending = false;
          target.opening--;
          open.inc();
          stream.onClose(() => detach(follower));
          deliver(follower, events);
          // Opened while the app was closing: what it was owed, then the same end as the others had.
          if (closing) shutDown(stream);
          else if (target.heard !== before) void refresh(orderId);
        },
      };
    },

    /** Streams open on this instance (the bench reads it from /metrics too). */
    get size() {
      let n = 0;
      for (const entry of followed.values()) n += entry.followers.size;
      return n;
    },
  });
}

export type OrderFeed = ReturnType<typeof createOrderFeed>;
