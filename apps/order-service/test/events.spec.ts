import { createDataSource, initializeDataSource, newId, uuidToBinary } from '@platform/db';
import { STREAMS, type PaymentEvent } from '@platform/events';
import { createRedisClient, keySpace, type RedisClient } from '@platform/redis';
import { createStreams, type Streams } from '@platform/events';
import type { App } from '@platform/service-kit';
import { eventually } from '@platform/testing';
import type { DataSource } from 'typeorm';
import { bearer, buildSignedIn, createOrder, type Built, type OrderJson } from './helper';

/**
 * Orders moved by payment events, published to the real stream as payment-service does and
 * handled by the app's own consumer group. The test reads MySQL and Redis over connections
 * of its own.
 */
let app: App;
let tokenFor: Built['tokenFor'];
let redis: RedisClient;
let db: DataSource;
let streams: Streams;
let eventsPrefix: string;
beforeAll(async () => {
  let databaseUrl: string;
  ({ app, tokenFor, eventsPrefix, databaseUrl } = await buildSignedIn());
  redis = createRedisClient({ url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', commandTimeoutMs: 2_000 });
  streams = createStreams({ client: redis, keys: keySpace(eventsPrefix) });
  db = await initializeDataSource(createDataSource({ url: databaseUrl, poolSize: 2, connectTimeoutMs: 5_000 }), {});
});
afterAll(async () => {
  await db?.destroy();
  redis?.disconnect();
  await app?.close();
});

const get = async (token: string, id: string) => (await app.inject({ method: 'GET', url: `/v1/orders/${id}`, headers: bearer(token) })).json<OrderJson>();
const cancel = (token: string, id: string) => app.inject({ method: 'POST', url: `/v1/orders/${id}/cancel`, headers: bearer(token) });
const publish = (event: object) => streams.publish(STREAMS.payments, event);

async function versionOf(id: string): Promise<number> {
  const rows = (await db.query('SELECT version FROM orders WHERE id = ?', [uuidToBinary(id)])) as { version: number }[];
  return Number(rows[0]?.version);
}

type Succeeded = Extract<PaymentEvent, { type: 'payment.succeeded' }>;
type Refunded = Extract<PaymentEvent, { type: 'payment.refunded' }>;

function succeeded(order: OrderJson, paymentId = newId()): Succeeded {
  const { id: orderId, userId, totalAmount: amount, currency } = order;
  return { type: 'payment.succeeded', eventId: newId(), occurredAt: new Date().toISOString(), paymentId, orderId, userId, amount, currency };
}

function refunded(order: OrderJson, paymentId: string, refundedAmount: number): Refunded {
  return {
    type: 'payment.refunded',
    eventId: newId(),
    occurredAt: new Date().toISOString(),
    paymentId,
    orderId: order.id,
    userId: order.userId,
    refundId: newId(),
    amount: refundedAmount,
    refundedAmount,
    paymentAmount: order.totalAmount,
    status: refundedAmount === order.totalAmount ? 'REFUNDED' : 'PARTIALLY_REFUNDED',
  };
}

const statusBecomes = (token: string, id: string, status: string, timeoutMs = 5_000) =>
  eventually(async () => (await get(token, id)).status === status, timeoutMs, 25);

/**
 * Waits until the consumer has handled everything published so far: one consumer handles
 * entries in stream order, so once a marker order published last is PAID, all before it are done.
 */
async function drained(): Promise<void> {
  const { token } = tokenFor();
  const marker = await createOrder(app, token);
  const entry = await publish(succeeded(marker));
  if (!(await statusBecomes(token, marker.id, 'PAID'))) throw new Error('the consumer did not reach the marker event');
  // The consumer acks after the update and the cache drop, so a read can see PAID first: wait for the marker's ack too.
  if (!(await eventually(async () => !(await pendingIds()).includes(entry), 5_000, 25))) throw new Error('the marker event was never acked');
}

const paymentsStream = () => keySpace(eventsPrefix).stream(STREAMS.payments).stream;

/** Entries delivered to the group but not acked: a handler that threw leaves its entry here. */
async function pendingEntries(): Promise<number> {
  const [count] = (await redis.xpending(paymentsStream(), 'order-service')) as [number];
  return Number(count);
}

async function pendingIds(): Promise<string[]> {
  const entries = (await redis.xpending(paymentsStream(), 'order-service', '-', '+', 1_000)) as [string, ...unknown[]][];
  return entries.map(([id]) => id);
}

async function refundRequests(orderId?: string): Promise<{ orderId: string; paymentId: string; reason: string; type: string; userId: string }[]> {
  const entries = (await redis.xrange(keySpace(eventsPrefix).stream(STREAMS.refundRequests).stream, '-', '+')) as [string, string[]][];
  const all = entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('data') + 1] ?? '{}'));
  return orderId ? all.filter((r) => r.orderId === orderId) : all;
}

describe('payment events over the stream', () => {
  it('when payment.succeeded is published, then the order is PAID within 2 s, and a read cached before shows it', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    expect((await get(token, order.id)).status).toBe('PENDING');
    expect((await get(token, order.id)).status).toBe('PENDING');
    const started = Date.now();
    await publish(succeeded(order));
    expect(await statusBecomes(token, order.id, 'PAID')).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('when a full refund follows, then REFUNDED; a partial refund before it changed nothing', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const paymentId = newId();
    await publish(succeeded(order, paymentId));
    await publish(refunded(order, paymentId, 1));
    await drained();
    expect((await get(token, order.id)).status).toBe('PAID');
    await publish(refunded(order, paymentId, order.totalAmount));
    expect(await statusBecomes(token, order.id, 'REFUNDED')).toBe(true);
  });

  it('when events move the order, then its ETag changes with each move (PAID, REFUNDED), and a cached copy of the old tag is not 304', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const tagOf = async () => (await app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: bearer(token) })).headers['etag'] as string;
    const pending = await tagOf();
    const paymentId = newId();
    await publish(succeeded(order, paymentId));
    expect(await statusBecomes(token, order.id, 'PAID')).toBe(true);
    const paid = await tagOf();
    await publish(refunded(order, paymentId, order.totalAmount));
    expect(await statusBecomes(token, order.id, 'REFUNDED')).toBe(true);
    const refundedTag = await tagOf();
    expect(new Set([pending, paid, refundedTag]).size).toBe(3);
    expect(refundedTag).toBe(`"${order.id}.${await versionOf(order.id)}"`);
    const stale = await app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: { ...bearer(token), 'if-none-match': paid } });
    expect(stale.statusCode).toBe(200);
  });

  it('when entries are not payment events, then they are skipped and the next one is still handled', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    await publish({ type: 'payment.succeeded', orderId: order.id });
    await publish({ type: 'payment.teleported', orderId: order.id });
    await publish({ ...succeeded(order), amount: '1299' });
    await drained();
    expect((await get(token, order.id)).status).toBe('PENDING');
    expect(await pendingEntries()).toBe(0);
    await publish(succeeded(order));
    expect(await statusBecomes(token, order.id, 'PAID')).toBe(true);
  });

  it('when an event names an order that does not exist, then it is skipped and the stream moves on', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    await publish(succeeded({ ...order, id: newId() }));
    await drained();
    expect(await pendingEntries()).toBe(0);
    expect((await get(token, order.id)).status).toBe('PENDING');
  });
});

describe('payment events, duplicated and out of order', () => {
  it('when payment.succeeded comes three times, then only the first changes the order', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const event = succeeded(order);
    await publish(event);
    expect(await statusBecomes(token, order.id, 'PAID')).toBe(true);
    const version = await versionOf(order.id);
    await publish(event);
    await publish({ ...event, eventId: newId() });
    await drained();
    expect(await versionOf(order.id)).toBe(version);
    expect((await get(token, order.id)).status).toBe('PAID');
  });

  it('when the full refund overtakes the success, then REFUNDED, and the late success moves nothing back', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const paymentId = newId();
    await publish(refunded(order, paymentId, order.totalAmount));
    expect(await statusBecomes(token, order.id, 'REFUNDED')).toBe(true);
    const version = await versionOf(order.id);
    await publish(succeeded(order, paymentId));
    await publish(refunded(order, paymentId, order.totalAmount));
    await drained();
    expect(await versionOf(order.id)).toBe(version);
    expect((await get(token, order.id)).status).toBe('REFUNDED');
  });

  it('when payment.failed comes, then the order stays PENDING and can still be paid', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const { id: orderId, userId } = order;
    await publish({ type: 'payment.failed', eventId: newId(), occurredAt: new Date().toISOString(), paymentId: newId(), orderId, userId, failureCode: 'CARD_DECLINED' });
    await drained();
    expect((await get(token, order.id)).status).toBe('PENDING');
    expect(await versionOf(order.id)).toBe(1);
    await publish(succeeded(order));
    expect(await statusBecomes(token, order.id, 'PAID')).toBe(true);
  });

  it('when a paid order is cancelled, then 409 and it stays PAID', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    await publish(succeeded(order));
    expect(await statusBecomes(token, order.id, 'PAID')).toBe(true);
    const res = await cancel(token, order.id);
    expect(res.statusCode).toBe(409);
    expect(res.json<{ code: string }>().code).toBe('ORDER_NOT_CANCELLABLE');
    expect((await get(token, order.id)).status).toBe('PAID');
  });
});

describe('a payment for a cancelled order', () => {
  it('when payment.succeeded arrives after the cancel, then the order stays CANCELLED and one refund request is relayed, even for a duplicate', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    expect((await cancel(token, order.id)).statusCode).toBe(200);
    const event = succeeded(order);
    await publish(event);
    await publish(event);
    await drained();
    expect((await get(token, order.id)).status).toBe('CANCELLED');
    expect(await eventually(async () => (await refundRequests(order.id)).length > 0, 5_000, 25)).toBe(true);
    await drained();
    expect(await refundRequests(order.id)).toEqual([
      expect.objectContaining({ type: 'order.refund_requested', orderId: order.id, paymentId: event.paymentId, reason: 'ORDER_CANCELLED', userId: order.userId }),
    ]);
  });

  it('when cancels and payment.succeeded events race on 20 orders, then on each exactly one wins, and exactly the lost payments are refunded', async () => {
    const { token } = tokenFor();
    const orders = await Promise.all(Array.from({ length: 20 }, () => createOrder(app, token)));
    const events = new Map(orders.map((o) => [o.id, succeeded(o)]));
    // Published and cancelled at once; the consumer and the cancels interleave as they may.
    const cancels = await Promise.all(
      orders.map(async (order, i) => {
        const publishing = i % 2 === 0 ? publish(events.get(order.id) as Succeeded) : Promise.resolve('');
        const res = await cancel(token, order.id);
        await publishing;
        if (i % 2 === 1) await publish(events.get(order.id) as Succeeded);
        return { order, code: res.statusCode };
      }),
    );
    await drained();
    // The stream also holds other tests' refund requests: wait for this test's lost payments by id, not for a count.
    const ours = new Set(orders.map((o) => o.id));
    const lost = cancels.filter((c) => c.code === 200).map((c) => (events.get(c.order.id) as Succeeded).paymentId);
    const requestedHere = async (): Promise<Set<string>> => new Set((await refundRequests()).filter((r) => ours.has(r.orderId)).map((r) => r.paymentId));
    expect(await eventually(async () => { const asked = await requestedHere(); return lost.every((id) => asked.has(id)); }, 5_000, 25)).toBe(true);
    const requested = await requestedHere();
    for (const { order, code } of cancels) {
      const { status } = await get(token, order.id);
      const refundAsked = requested.has((events.get(order.id) as Succeeded).paymentId);
      if (code === 200) expect({ id: order.id, status, refundAsked }).toEqual({ id: order.id, status: 'CANCELLED', refundAsked: true });
      else expect({ id: order.id, code, status, refundAsked }).toEqual({ id: order.id, code: 409, status: 'PAID', refundAsked: false });
    }
    expect(cancels.some((c) => c.code === 200)).toBe(true);
  });
});
