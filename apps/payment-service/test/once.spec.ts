import { uuidToBinary } from '@platform/db';
import { STREAMS } from '@platform/events';
import { createRedisClient, keySpace, type RedisClient } from '@platform/redis';
import type { App } from '@platform/service-kit';
import { buildApp, eventually } from '@platform/testing';
import { randomUUID } from 'node:crypto';
import { definition } from '../src/app';
import { buildWorld, card, chargesOf, orderOf, pay, placeOrder, type PaymentJson, type World } from './helper';

/**
 * "Charge each order exactly once": many requests, keys and instances at once, Redis
 * losing its records between a payment and its retry, MySQL refusing what the service
 * would never write, and an event published twice.
 */
let w: World;
let second: App;
let redis: RedisClient;
beforeAll(async () => {
  w = await buildWorld();
  // A second payment-service instance on the same schema, Redis prefixes and peers.
  second = await buildApp(definition, w.env);
  redis = createRedisClient({ url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', commandTimeoutMs: 2_000 });
}, 90_000);
afterAll(async () => {
  await second?.close();
  await w?.close();
  redis?.disconnect();
});

const code = (res: { json(): unknown }) => (res.json() as { code?: string }).code;

/** Deletes every key of payment-service's own prefix: its idempotency records and locks, as a flush would. */
async function forgetRedisState(): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${w.env['REDIS_KEY_PREFIX']}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

it('when 50 requests with one key arrive at once on two instances, then the provider charges once and every 201 is the same payment', async () => {
  const { token } = w.tokenFor();
  const order = await placeOrder(w, token);
  const key = randomUUID();
  const body = { orderId: order.id, paymentMethod: card() };
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => pay(i % 2 ? second : w.app, token, body, key)));
  const ok = answers.filter((r) => r.statusCode === 201);
  expect(ok.length).toBeGreaterThan(0);
  expect(new Set(ok.map((r) => (r.json() as PaymentJson).id)).size).toBe(1);
  // The rest were told the first is still running, to retry.
  expect(answers.filter((r) => r.statusCode !== 201).map(code).every((c) => c === 'IDEMPOTENCY_REQUEST_IN_PROGRESS')).toBe(true);
  expect(await chargesOf(w, order.id)).toHaveLength(1);
  const retry = await pay(w.app, token, body, key);
  expect(retry.statusCode).toBe(201);
  expect(retry.headers['idempotent-replayed']).toBe('true');
});

it('when 20 requests with different keys pay one order at once on two instances, then exactly one succeeds and the rest are 409 ORDER_NOT_PAYABLE', async () => {
  const { token } = w.tokenFor();
  const order = await placeOrder(w, token);
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) => pay(i % 2 ? second : w.app, token, { orderId: order.id, paymentMethod: card() }, randomUUID())),
  );
  expect(answers.filter((r) => r.statusCode === 201)).toHaveLength(1);
  expect(answers.filter((r) => r.statusCode !== 201).map((r) => [r.statusCode, code(r)])).toEqual(Array(19).fill([409, 'ORDER_NOT_PAYABLE']));
  const charges = await chargesOf(w, order.id);
  expect(charges.filter((c) => c.status === 'succeeded')).toHaveLength(1);
  expect(charges).toHaveLength(1);
});

it('when Redis loses its records between a payment and its retry, then the retry replays the payment from MySQL and nothing is charged again', async () => {
  const { token } = w.tokenFor();
  const order = await placeOrder(w, token);
  const key = randomUUID();
  const body = { orderId: order.id, paymentMethod: card() };
  const first = await pay(w.app, token, body, key);
  expect(first.statusCode).toBe(201);
  expect(await forgetRedisState()).toBeGreaterThan(0);

  const retry = await pay(second, token, body, key);
  expect(retry.statusCode).toBe(201);
  expect(retry.headers['idempotent-replayed']).toBe('true');
  expect((retry.json() as PaymentJson).id).toBe((first.json() as PaymentJson).id);
  // Another key finds the order paid in MySQL, whatever Redis and order-service say yet.
  await forgetRedisState();
  const other = await pay(w.app, token, body, randomUUID());
  expect([other.statusCode, code(other)]).toEqual([409, 'ORDER_NOT_PAYABLE']);
  // And the key is still bound to its body.
  const reused = await pay(w.app, token, { ...body, paymentMethod: card('tok_mastercard') }, key);
  expect([reused.statusCode, code(reused)]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
  expect(await chargesOf(w, order.id)).toHaveLength(1);
});

it('when Redis loses its records after a decline, then the retry replays the 402 from MySQL', async () => {
  const { token } = w.tokenFor();
  const order = await placeOrder(w, token);
  const key = randomUUID();
  const body = { orderId: order.id, paymentMethod: card('tok_chargeDeclined') };
  const first = await pay(w.app, token, body, key);
  await forgetRedisState();
  const retry = await pay(w.app, token, body, key);
  expect(retry.statusCode).toBe(402);
  expect(retry.json()).toMatchObject({ code: 'CARD_DECLINED', paymentId: (first.json() as { paymentId: string }).paymentId });
  expect(await chargesOf(w, order.id)).toHaveLength(1);
});

it('when rows are written past the service, then MySQL refuses a second live payment for an order, a reused key, and refunds above the payment', async () => {
  const { token, userId } = w.tokenFor();
  const order = await placeOrder(w, token);
  const payment = (await pay(w.app, token, { orderId: order.id, paymentMethod: card() })).json() as PaymentJson;
  const insert = (id: string, key: string, status: string, failure: string | null) =>
    w.db.query(
      `INSERT INTO payments (id, order_id, user_id, idempotency_key, request_hash, amount, currency, status, failure_code, fence, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, 100, 'EUR', ?, ?, 1, NOW(3), NOW(3))`,
      [uuidToBinary(id), uuidToBinary(order.id), uuidToBinary(userId), key, Buffer.alloc(32), status, failure],
    );
  await expect(insert(randomUUID(), randomUUID(), 'SUCCEEDED', null)).rejects.toThrow(/uq_payments_live_order/);
  await expect(insert(randomUUID(), randomUUID(), 'PROCESSING', null)).rejects.toThrow(/uq_payments_live_order/);
  // Failed attempts do not hold the order.
  await expect(insert(randomUUID(), randomUUID(), 'FAILED', 'CARD_DECLINED')).resolves.toBeDefined();
  const [row] = (await w.db.query('SELECT idempotency_key FROM payments WHERE id = ?', [uuidToBinary(payment.id)])) as { idempotency_key: string }[];
  const key = row?.idempotency_key ?? '';
  await expect(insert(randomUUID(), key, 'FAILED', 'CARD_DECLINED')).rejects.toThrow(/uq_payments_user_key/);
  await expect(w.db.query('UPDATE payments SET refunded_amount = amount + 1 WHERE id = ?', [uuidToBinary(payment.id)])).rejects.toThrow(/ck_payments_refunds/);
  await expect(w.db.query('UPDATE payments SET refund_pending_amount = 1, refunded_amount = amount WHERE id = ?', [uuidToBinary(payment.id)])).rejects.toThrow(
    /ck_payments_refunds/,
  );
  await expect(w.db.query("UPDATE payments SET status = 'REFUNDED' WHERE id = ?", [uuidToBinary(payment.id)])).rejects.toThrow(/ck_payments_refunded/);
});

it('when the relay published an event but never marked it sent, then it is published again and the order is PAID once', async () => {
  const { token } = w.tokenFor();
  const order = await placeOrder(w, token);
  const payment = (await pay(w.app, token, { orderId: order.id, paymentMethod: card() })).json() as PaymentJson;
  expect(await eventually(async () => (await orderOf(w, token, order.id)).status === 'PAID', 2_000, 50)).toBe(true);
  const paid = await orderOf(w, token, order.id);
  const stream = keySpace(w.eventsPrefix).stream(STREAMS.payments).stream;
  const copies = async () =>
    (await redis.xrange(stream, '-', '+')).filter(([, fields]) => fields.join(' ').includes(payment.id) && fields.join(' ').includes('payment.succeeded')).length;
  expect(await copies()).toBe(1);

  // The state a relay leaves when it dies between XADD and the UPDATE that marks the row.
  const dedupe = `payment.succeeded:${payment.id}`;
  await w.db.query('UPDATE outbox SET sent_at = NULL WHERE dedupe_key = ?', [dedupe]);
  expect(await eventually(async () => (await copies()) === 2, 5_000, 50)).toBe(true);
  expect(await eventually(async () => ((await w.db.query('SELECT sent_at FROM outbox WHERE dedupe_key = ?', [dedupe])) as { sent_at: Date | null }[])[0]?.sent_at !== null, 5_000, 50)).toBe(true);
  // order-service took the copy as the duplicate it is: the order did not change again.
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(await orderOf(w, token, order.id)).toEqual(paid);
});
