import { signAccessToken } from '@platform/auth/testing';
import { createDataSource, initializeDataSource, newId, uuidToBinary } from '@platform/db';
import { createStreams, STREAMS, type PaymentEvent, type Streams } from '@platform/events';
import { createRedisClient, createRevocation, keySpace, type RedisClient } from '@platform/redis';
import type { App } from '@platform/service-kit';
import { buildApp, readEventStream, testKeyPrefix, type EventStreamReader } from '@platform/testing';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DataSource } from 'typeorm';
import { definition } from '../src/app';
import { bearer, buildSignedIn, createOrder, type Built, type OrderJson } from './helper';

/**
 * CONTRACT.md, Orders, "Live status", on two real instances of order-service sharing MySQL and
 * Redis, each listening on a port of its own: the streams are read over real HTTP, the changes
 * come from a cancel on the other instance or from payment events on the real stream.
 */
let a: Built;
let b: App;
let redis: RedisClient;
let db: DataSource;
let streams: Streams;
const authPrefix = testKeyPrefix('auth');
const orderPrefix = testKeyPrefix('order');
const urls: string[] = [];
const readers: EventStreamReader[] = [];

beforeAll(async () => {
  a = await buildSignedIn({ AUTH_REDIS_KEY_PREFIX: authPrefix, REDIS_KEY_PREFIX: orderPrefix });
  b = await anotherInstance({ RATE_LIMIT_MAX: '100000' });
  for (const app of [a.app, b]) {
    await app.listen({ port: 0, host: '127.0.0.1' });
    urls.push(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
  }
  redis = createRedisClient({ url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', commandTimeoutMs: 2_000 });
  streams = createStreams({ client: redis, keys: keySpace(a.eventsPrefix) });
  db = await initializeDataSource(createDataSource({ url: a.databaseUrl, poolSize: 2, connectTimeoutMs: 5_000 }), {});
});
/** One more instance beside the first: the same schema, keys and events, the same JWKS. */
function anotherInstance(env: Record<string, string> = {}): Promise<App> {
  return buildApp(definition, {
    DATABASE_URL: a.databaseUrl,
    USER_SERVICE_URL: new URL(a.jwks.url).origin,
    EVENTS_REDIS_KEY_PREFIX: a.eventsPrefix,
    AUTH_REDIS_KEY_PREFIX: authPrefix,
    REDIS_KEY_PREFIX: orderPrefix,
    ...env,
  });
}

afterEach(() => {
  for (const reader of readers.splice(0)) reader.close();
});
afterAll(async () => {
  await db?.destroy();
  redis?.disconnect();
  await b?.close();
  await a?.app.close();
});

async function follow(instance: number, token: string, id: string, headers: Record<string, string> = {}): Promise<EventStreamReader> {
  const reader = await readEventStream(`${urls[instance]}/v1/orders/${id}/events`, { ...bearer(token), ...headers });
  readers.push(reader);
  return reader;
}

const publish = (event: PaymentEvent) => streams.publish(STREAMS.payments, event);
const succeeded = (order: OrderJson, paymentId = newId()): PaymentEvent => ({
  type: 'payment.succeeded',
  eventId: newId(),
  occurredAt: new Date().toISOString(),
  paymentId,
  orderId: order.id,
  userId: order.userId,
  amount: order.totalAmount,
  currency: order.currency,
});
const refunded = (order: OrderJson, paymentId: string): PaymentEvent => ({
  type: 'payment.refunded',
  eventId: newId(),
  occurredAt: new Date().toISOString(),
  paymentId,
  orderId: order.id,
  userId: order.userId,
  refundId: newId(),
  amount: order.totalAmount,
  refundedAmount: order.totalAmount,
  paymentAmount: order.totalAmount,
  status: 'REFUNDED',
});
const statusOf = (e: { data: string }) => (JSON.parse(e.data) as OrderJson).status;

describe('GET /v1/orders/{id}/events', () => {
  it('when a client follows an order on one instance, then it gets the current state, then PAID and REFUNDED within 1 s of their commits, and the stream ends', async () => {
    const { token } = a.tokenFor();
    const order = await createOrder(a.app, token);
    const reader = await follow(0, token, order.id);
    expect([reader.status, reader.headers['content-type'], reader.headers['cache-control']]).toEqual([200, 'text/event-stream; charset=utf-8', 'no-store']);
    const first = await reader.event(0);
    expect([first.event, first.id, statusOf(first)]).toEqual(['order.status', '1', 'PENDING']);
    expect(JSON.parse(first.data)).toEqual(order);

    const paymentId = newId();
    await publish(succeeded(order, paymentId));
    const paid = await reader.event(1);
    expect([paid.id, statusOf(paid)]).toEqual(['2', 'PAID']);
    const committedAt = await updatedAt(order.id);
    expect(paid.at - committedAt).toBeLessThan(1_000);
    await publish(refunded(order, paymentId));
    const last = await reader.event(2);
    expect([last.id, statusOf(last)]).toEqual(['3', 'REFUNDED']);
    await reader.ended;
    expect(reader.events).toHaveLength(3);
  });

  it('when the order is cancelled on the other instance, then the stream on this one gets CANCELLED at once and ends', async () => {
    const { token } = a.tokenFor();
    const order = await createOrder(a.app, token);
    const reader = await follow(0, token, order.id);
    await reader.event(0);
    const res = await fetch(`${urls[1]}/v1/orders/${order.id}/cancel`, { method: 'POST', headers: bearer(token) });
    expect(res.status).toBe(200);
    const cancelled = await reader.event(1, 1_000);
    expect([cancelled.id, statusOf(cancelled)]).toEqual(['2', 'CANCELLED']);
    await reader.ended;
  });

  it('when a client resumes with Last-Event-ID, then it gets exactly what it missed: the PAID and the REFUNDED, or nothing (204) once final', async () => {
    const { token } = a.tokenFor();
    const order = await createOrder(a.app, token);
    const paymentId = newId();
    // One after the other: two consumers may handle two events at once, and a refund that overtakes
    // its payment moves the order to REFUNDED in one step (version 2).
    await publish(succeeded(order, paymentId));
    await waitForVersion(order.id, 2);
    await publish(refunded(order, paymentId));
    await waitForVersion(order.id, 3);
    const resumed = await follow(1, token, order.id, { 'last-event-id': '1' });
    await resumed.ended;
    expect(resumed.events.map((e) => [e.id, statusOf(e)])).toEqual([
      ['2', 'PAID'],
      ['3', 'REFUNDED'],
    ]);
    const again = await follow(0, token, order.id, { 'last-event-id': '3' });
    expect(again.status).toBe(204);
    const fresh = await follow(0, token, order.id);
    await fresh.ended;
    expect(fresh.events.map((e) => e.id)).toEqual(['3']);
  });

  it('when the last event seen is current and the order is not final, then the stream opens with no event, and the next change comes', async () => {
    const { token } = a.tokenFor();
    const order = await createOrder(a.app, token);
    const reader = await follow(1, token, order.id, { 'last-event-id': '1' });
    expect(reader.status).toBe(200);
    await publish(succeeded(order));
    const paid = await reader.event(0);
    expect([paid.id, statusOf(paid)]).toEqual(['2', 'PAID']);
  });

  it("when another user's order or no order is followed, then 404, and no token is 401", async () => {
    const { token } = a.tokenFor();
    const order = await createOrder(a.app, a.tokenFor().token);
    for (const id of [order.id, randomUUID(), 'nope']) {
      const reader = await follow(0, token, id);
      expect(reader.status).toBe(404);
      expect(JSON.parse(await reader.text())).toMatchObject({ code: 'NOT_FOUND' });
    }
    const anonymous = await readEventStream(`${urls[0]}/v1/orders/${order.id}/events`);
    expect(anonymous.status).toBe(401);
  });

  it('when a user holds 10 streams over both instances, then the 11th is 429 TOO_MANY_STREAMS on either, and closing one frees a place', async () => {
    const { token } = a.tokenFor();
    const order = await createOrder(a.app, token);
    const open = await Promise.all(Array.from({ length: 10 }, (_, i) => follow(i % 2, token, order.id)));
    expect(open.map((r) => r.status)).toEqual(Array(10).fill(200));
    for (const instance of [0, 1]) {
      const refused = await follow(instance, token, order.id);
      expect([refused.status, refused.headers['retry-after']]).toEqual([429, '5']);
      expect(JSON.parse(await refused.text())).toMatchObject({ code: 'TOO_MANY_STREAMS' });
    }
    open[3]?.close();
    let admitted: EventStreamReader | undefined;
    for (let tries = 0; tries < 50 && admitted?.status !== 200; tries++) {
      await new Promise((r) => setTimeout(r, 20));
      admitted = await follow(1, token, order.id);
    }
    expect(admitted?.status).toBe(200);
    // Another user is not counted with this one.
    const other = a.tokenFor().token;
    expect((await follow(0, other, (await createOrder(a.app, other)).id)).status).toBe(200);
  });

  it('when the token is revoked, then its stream ends within 5 s; when it expires, the stream ends within 5 s of its exp', async () => {
    const userId = randomUUID();
    const sessionId = randomUUID();
    const token = signAccessToken(a.key, { claims: { sub: userId, sid: sessionId } });
    const order = await createOrder(a.app, token);
    const reader = await follow(1, token, order.id);
    await reader.event(0);
    const revocation = createRevocation({ client: redis, keys: keySpace(authPrefix) });
    const revokedAt = Date.now();
    await revocation.revokeSession(userId, sessionId, Math.floor(Date.now() / 1000) + 900);
    const { at } = await reader.ended;
    expect(at - revokedAt).toBeLessThan(5_000);
    expect(reader.comments.at(-1)).toBe('closed: the token was revoked');

    const exp = Math.floor(Date.now() / 1000) + 2;
    const short = signAccessToken(a.key, { claims: { sub: userId, exp } });
    const expiring = await follow(0, short, order.id);
    await expiring.event(0);
    const ended = await expiring.ended;
    expect(ended.at - exp * 1000).toBeLessThan(5_000);
    expect(expiring.comments.at(-1)).toBe('closed: the token expired');
  });

  it('when the instance shuts down, then its streams end cleanly with a comment saying so', async () => {
    const c = await anotherInstance();
    await c.listen({ port: 0, host: '127.0.0.1' });
    const { token } = a.tokenFor();
    const order = await createOrder(a.app, token);
    const reader = await readEventStream(`http://127.0.0.1:${(c.server.address() as AddressInfo).port}/v1/orders/${order.id}/events`, bearer(token));
    await reader.event(0);
    const started = Date.now();
    await c.close();
    await reader.ended;
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(reader.comments.at(-1)).toBe('closed: the server is shutting down; reconnect');
  });

  it('when a stream is still being opened as the instance shuts down, then it too ends with the comment, and the instance closes', async () => {
    const c = await anotherInstance();
    await c.listen({ port: 0, host: '127.0.0.1' });
    const { token } = a.tokenFor();
    const order = await createOrder(a.app, token);
    // The order's read waits behind a table lock: the request is in its handler when close() begins.
    const lock = db.createQueryRunner();
    await lock.connect();
    let closing: Promise<void> | undefined;
    let opening: Promise<EventStreamReader> | undefined;
    try {
      await lock.query('LOCK TABLES orders WRITE');
      opening = readEventStream(`http://127.0.0.1:${(c.server.address() as AddressInfo).port}/v1/orders/${order.id}/events`, bearer(token));
      await waitForLockWaiter();
      closing = c.close();
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await lock.query('UNLOCK TABLES');
      await lock.release();
    }
    if (!opening || !closing) throw new Error('the stream was not opened');
    const reader = await opening;
    const closed = await Promise.race([closing.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
    // Whatever happened, the client goes away and the instance closes.
    reader.close();
    await closing;
    // Without it the stream would hold the server open, and the instance would not close.
    expect({ closed, status: reader.status, ended: reader.isEnded, said: reader.comments.at(-1) }).toEqual({
      closed: true,
      status: 200,
      ended: true,
      said: 'closed: the server is shutting down; reconnect',
    });
    expect(reader.events.map((e) => e.id)).toEqual(['1']);
  });

  it('when the client goes away while its stream is being opened, then the stream is not kept: it counts neither as open nor towards the ten', async () => {
    const { token } = a.tokenFor();
    const order = await createOrder(a.app, token);
    const openStreams = async () => Number(/^order_streams_open(?:\{[^}]*\})? (\d+)/m.exec((await a.app.inject({ method: 'GET', url: '/metrics' })).body)?.[1]);
    const before = await openStreams();
    const lock = db.createQueryRunner();
    await lock.connect();
    try {
      await lock.query('LOCK TABLES orders WRITE');
      const req = request(`${urls[0]}/v1/orders/${order.id}/events`, { headers: { accept: 'text/event-stream', ...bearer(token) } });
      req.on('error', () => undefined);
      req.end();
      await waitForLockWaiter();
      req.destroy();
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await lock.query('UNLOCK TABLES');
      await lock.release();
    }
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await openStreams()).toBe(before);
    // All ten places are the user's still.
    const held = await Promise.all(Array.from({ length: 10 }, (_, i) => follow(i % 2, token, order.id)));
    expect(held.map((r) => r.status)).toEqual(held.map(() => 200));
  });

  it('when a change reaches MySQL without being announced, then the 15-s sweep sends it, with the keep-alive comment, within 16 s', async () => {
    const { token } = a.tokenFor();
    const order = await createOrder(a.app, token);
    const reader = await follow(0, token, order.id);
    await reader.event(0);
    // As a change whose announcement Redis lost: committed, never published.
    await db.query("UPDATE orders SET status = 'CANCELLED', version = version + 1, updated_at = NOW(3) WHERE id = ?", [uuidToBinary(order.id)]);
    const cancelled = await reader.event(1, 16_000);
    expect([cancelled.id, statusOf(cancelled)]).toEqual(['2', 'CANCELLED']);
    expect(reader.comments).toContain('keep-alive');
  }, 20_000);
});

async function updatedAt(id: string): Promise<number> {
  const rows = (await db.query('SELECT updated_at FROM orders WHERE id = ?', [uuidToBinary(id)])) as { updated_at: Date }[];
  return (rows[0]?.updated_at as Date).getTime();
}

/** Until a query waits for the lock on `orders` (the app's read of the order). */
async function waitForLockWaiter(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const rows = (await db.query("SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() AND state LIKE 'Waiting for table%'")) as { n: number }[];
    if (Number(rows[0]?.n) > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no query waited for the lock on orders');
}

async function waitForVersion(id: string, version: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const rows = (await db.query('SELECT version FROM orders WHERE id = ?', [uuidToBinary(id)])) as { version: number }[];
    if (Number(rows[0]?.version) >= version) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`order ${id} never reached version ${version}`);
}
