import { newId, uuidToBinary } from '@platform/db';
import { createRedisClient, type RedisClient } from '@platform/redis';
import type { App } from '@platform/service-kit';
import { buildApp, eventually } from '@platform/testing';
import pino from 'pino';
import { randomUUID } from 'node:crypto';
import { definition } from '../src/app';
import type { PaymentGateway } from '../src/gateway/gateway';
import { httpGateway } from '../src/gateway/http-gateway';
import { FIRST_FENCE, paymentsRepository, type Payment } from '../src/payments/payments-repository';
import { chargeSettlement } from '../src/payments/settlement';
import { buildWorld, card, chargesOf, pay, placeOrder, type PaymentJson, type World } from './helper';

/**
 * The jobs the per-order Redis lock once did, now carried by MySQL (ADR 0021): the payment row's
 * fence decides who may settle it, a takeover is a compare-and-set on it, and
 * uq_payments_live_order refuses a second live payment. Each test fails if its guarantee is lost.
 */
const LATENCY_MS = 3_000;
let w: World;
let second: App;
let redis: RedisClient;
beforeAll(async () => {
  // The provider takes 3 s per call (and is waited for), so attempts overlap at it; the sweep stays off (the tests run it).
  w = await buildWorld({ sandboxEnv: { GATEWAY_LATENCY_MS: String(LATENCY_MS) }, env: { GATEWAY_TIMEOUT_MS: '6000', GATEWAY_MAX_ATTEMPTS: '1', PAYMENT_RECOVERY_INTERVAL_MS: '0', PAYMENT_STALE_AFTER_MS: '30000' } });
  second = await buildApp(definition, w.env);
  redis = createRedisClient({ url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', commandTimeoutMs: 2_000 });
}, 90_000);
afterAll(async () => {
  redis?.disconnect();
  await second?.close();
  await w?.close();
});

const code = (res: { json(): unknown }) => (res.json() as { code?: string }).code;
const repo = () => paymentsRepository(() => w.db, w.oneTrip);

/** A PROCESSING payment written as an attempt would, `ageMs` old. */
async function processing(ageMs = 0): Promise<Payment> {
  const at = new Date(Date.now() - ageMs);
  const p: Payment = {
    id: newId(),
    orderId: randomUUID(),
    userId: randomUUID(),
    idempotencyKey: randomUUID(),
    requestHash: Buffer.alloc(32),
    amount: 2598,
    currency: 'EUR',
    status: 'PROCESSING',
    failureCode: null,
    refundedAmount: 0,
    refundPendingAmount: 0,
    providerChargeId: null,
    fence: FIRST_FENCE,
    version: 1,
    createdAt: at,
    updatedAt: at,
  };
  await repo().insertProcessing(p);
  return p;
}

it('when two takeovers start from the same fence, then exactly one wins, and the former holder’s late settling write changes nothing', async () => {
  const p = await processing();
  const taken = await Promise.all([repo().takeOver(p, true), repo().takeOver(p, true)]);
  expect(taken.filter(Boolean)).toHaveLength(1);
  // The winner holds the payment as the row now is.
  expect(taken.find(Boolean)).toEqual(await repo().findById(p.id));
  // The inserter (fence 1) comes back late with the provider's answer: refused, and its event with it.
  const event = (name: string) => ({ stream: 'payments', payload: { name }, dedupeKey: `${name}:${p.id}` });
  expect(await repo().finish(p.id, p.fence, { status: 'SUCCEEDED', providerChargeId: 'ch_late' }, new Date(), event('late'))).toBe(false);
  expect(await repo().findById(p.id)).toMatchObject({ status: 'PROCESSING', fence: p.fence + 1, providerChargeId: null });
  // The new holder settles, with its event; after that nothing takes the row over or settles it again.
  expect(await repo().finish(p.id, p.fence + 1, { status: 'FAILED', failureCode: 'CARD_DECLINED', providerChargeId: 'ch_new' }, new Date(), event('new'))).toBe(true);
  const events = (await w.db.query('SELECT dedupe_key FROM outbox WHERE dedupe_key IN (?, ?)', [`late:${p.id}`, `new:${p.id}`])) as { dedupe_key: string }[];
  expect(events.map((e) => e.dedupe_key)).toEqual([`new:${p.id}`]);
  expect(await repo().takeOver({ ...p, fence: p.fence + 1 }, true)).toBeUndefined();
  expect(await repo().finish(p.id, p.fence + 2, { status: 'SUCCEEDED', providerChargeId: 'ch_later' }, new Date())).toBe(false);
  expect(await repo().findById(p.id)).toMatchObject({ status: 'FAILED', failureCode: 'CARD_DECLINED', providerChargeId: 'ch_new', fence: p.fence + 1 });
});

it('when two recovery sweeps find the same stale payment at once, then one takes it over and asks the provider; the other leaves it', async () => {
  const p = await processing(60_000);
  const asked: string[] = [];
  const real = httpGateway({ baseUrl: w.env['PAYMENT_GATEWAY_URL'] ?? '', connectTimeoutMs: 1_000, timeoutMs: 5_000, maxAttempts: 1 });
  // The real sandbox, with its calls counted.
  const gateway: PaymentGateway = {
    ...real,
    findCharge: (...args) => (asked.push('find'), real.findCharge(...args)),
    cancelCharge: (...args) => (asked.push('cancel'), real.cancelCharge(...args)),
  };
  const log = pino({ level: 'silent' });
  const sweep = () => chargeSettlement({ repository: repo(), gateway, nudgeOutbox: () => undefined, log, staleAfterMs: 1_000 }).resolveStale(p);
  const [a, b] = await Promise.all([sweep(), sweep()]);
  await real.close();
  // Never charged: cancelled by its key and failed, once, by one of the two.
  expect(asked).toEqual(['find', 'cancel']);
  expect([a?.status, b?.status]).toContain('FAILED');
  expect(await repo().findById(p.id)).toMatchObject({ status: 'FAILED', failureCode: 'GATEWAY_ERROR', fence: p.fence + 1 });
  const [{ n }] = (await w.db.query('SELECT COUNT(*) AS n FROM outbox WHERE dedupe_key = ?', [`payment.failed:${p.id}`])) as [{ n: number | string }];
  expect(Number(n)).toBe(1);
});

it('when a recent PROCESSING payment holds the order, then another key is told 409 ORDER_NOT_PAYABLE with Retry-After, and the provider is not asked', async () => {
  const { token } = w.tokenFor();
  const order = await placeOrder(w, token);
  const first = pay(w.app, token, { orderId: order.id, paymentMethod: card() });
  // The first is at the provider (3 s) when the second comes, on the other instance.
  await eventually(async () => ((await w.db.query("SELECT 1 FROM payments WHERE order_id = ? AND status = 'PROCESSING'", [uuidToBinary(order.id)])) as unknown[]).length > 0, 2_000, 20);
  const other = await pay(second, token, { orderId: order.id, paymentMethod: card() });
  expect([other.statusCode, code(other)]).toEqual([409, 'ORDER_NOT_PAYABLE']);
  expect(other.headers['retry-after']).toBe('1');
  expect((await first).statusCode).toBe(201);
  expect(await chargesOf(w, order.id)).toHaveLength(1);
});

it('when Redis loses a key’s record while its payment is at the provider, then a retry on another instance takes it over: one charge, and the first attempt does not overwrite it', async () => {
  const { token, userId } = w.tokenFor();
  const order = await placeOrder(w, token);
  const key = randomUUID();
  const body = { orderId: order.id, paymentMethod: card() };
  const first = pay(w.app, token, body, key);
  await eventually(async () => ((await w.db.query('SELECT 1 FROM payments WHERE idempotency_key = ?', [key])) as unknown[]).length > 0, 2_000, 20);
  // As if Redis had lost the record: the retry goes to MySQL (the idempotency record is by user, route and key).
  const keys = await redis.keys(`${w.env['REDIS_KEY_PREFIX']}*`);
  expect(keys.length).toBeGreaterThan(0);
  await redis.del(...keys);
  const retry = await pay(second, token, body, key);
  const answers = [await first, retry];
  const row = (await repo().findByKey(userId, key)) as Payment;
  expect(row).toMatchObject({ status: 'SUCCEEDED', fence: FIRST_FENCE + 1 });
  for (const a of answers) {
    // Each answer is the one payment, or one that leaves the retry to the client: 503 (its key's
    // record was lost) or 502 naming the payment (its late write refused while the retry still ran).
    if (a.statusCode === 201) expect((a.json() as PaymentJson).id).toBe(row.id);
    else if (a.statusCode === 502) expect(a.json()).toMatchObject({ code: 'GATEWAY_ERROR', paymentId: row.id });
    else expect(a.statusCode).toBe(503);
  }
  expect(retry.statusCode).toBe(201);
  expect(await chargesOf(w, order.id)).toEqual([expect.objectContaining({ status: 'succeeded' })]);
});

it('when a charge looks up its key and its order in one statement, then it finds the key’s payment, the order’s live one, and a FAILED one only by its key', async () => {
  const live = await processing();
  const other = randomUUID();
  // The same row by both halves.
  expect(await repo().findForCharge(live.userId, live.idempotencyKey, live.orderId)).toEqual({ byKey: live, live });
  // Another key for the same order: only the live payment.
  expect(await repo().findForCharge(live.userId, other, live.orderId)).toEqual({ live });
  // Failed: it no longer holds the order, and its key still finds it.
  expect(await repo().finish(live.id, live.fence, { status: 'FAILED', failureCode: 'CARD_DECLINED', providerChargeId: null }, new Date())).toBe(true);
  const found = await repo().findForCharge(live.userId, live.idempotencyKey, live.orderId);
  expect(found.live).toBeUndefined();
  expect(found.byKey).toMatchObject({ id: live.id, status: 'FAILED' });
  expect(await repo().findForCharge(live.userId, other, randomUUID())).toEqual({});
});
