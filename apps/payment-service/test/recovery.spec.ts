import { eventually } from '@platform/testing';
import { randomUUID } from 'node:crypto';
import { bearer, buildWorld, card, chargesOf, orderOf, pay, placeOrder, refund, type PaymentJson, type World } from './helper';

/**
 * The provider answers after 600 ms and payment-service waits 200 ms per attempt, twice:
 * every charge and refund ends without a final answer. What was charged must still be
 * found and settled, by the key's retry or by the recovery sweep, and never twice.
 */
let w: World;
beforeAll(async () => {
  w = await buildWorld({
    sandboxEnv: { GATEWAY_LATENCY_MS: '600' },
    env: { GATEWAY_TIMEOUT_MS: '200', GATEWAY_MAX_ATTEMPTS: '2', PAYMENT_STALE_AFTER_MS: '1000', PAYMENT_RECOVERY_INTERVAL_MS: '300' },
  });
}, 90_000);
afterAll(() => w?.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const code = (res: { json(): unknown }) => (res.json() as { code?: string }).code;

async function statusOf(token: string, paymentId: string): Promise<string | undefined> {
  const res = await w.app.inject({ url: `/v1/payments/${paymentId}`, headers: bearer(token) });
  return res.statusCode === 200 ? (res.json() as PaymentJson).status : undefined;
}

it('when the provider does not answer in time, then 502 with the paymentId, and the recovery sweep finds the charge and settles it: SUCCEEDED, order PAID', async () => {
  const { token } = w.tokenFor();
  const order = await placeOrder(w, token);
  const res = await pay(w.app, token, { orderId: order.id, paymentMethod: card() });
  expect([res.statusCode, code(res)]).toEqual([502, 'GATEWAY_ERROR']);
  const { paymentId } = res.json() as { paymentId: string };
  // Not settled yet: not shown, and it holds the order against other attempts.
  expect(await statusOf(token, paymentId)).toBeUndefined();
  const other = await pay(w.app, token, { orderId: order.id, paymentMethod: card() });
  expect([other.statusCode, code(other)]).toEqual([409, 'ORDER_NOT_PAYABLE']);

  expect(await eventually(async () => (await statusOf(token, paymentId)) === 'SUCCEEDED', 5_000, 100)).toBe(true);
  expect(await eventually(async () => (await orderOf(w, token, order.id)).status === 'PAID', 2_000, 50)).toBe(true);
  expect(await chargesOf(w, order.id)).toEqual([expect.objectContaining({ status: 'succeeded', amount: order.totalAmount })]);
});

it('when the client retries the key after an unanswered charge, then the same provider key is sent again and the one charge is the answer', async () => {
  const { token } = w.tokenFor();
  const order = await placeOrder(w, token);
  const key = randomUUID();
  const body = { orderId: order.id, paymentMethod: card() };
  const first = await pay(w.app, token, body, key);
  expect(first.statusCode).toBe(502);
  await sleep(700);
  const retry = await pay(w.app, token, body, key);
  expect(retry.statusCode).toBe(201);
  expect(retry.json()).toMatchObject({ id: (first.json() as { paymentId: string }).paymentId, status: 'SUCCEEDED' });
  expect(await chargesOf(w, order.id)).toHaveLength(1);
});

it('when a refund goes unanswered, then it stays reserved and the sweep sends it again with its key: refunded once', async () => {
  const { token } = w.tokenFor();
  const order = await placeOrder(w, token);
  const key = randomUUID();
  const body = { orderId: order.id, paymentMethod: card() };
  await pay(w.app, token, body, key);
  await sleep(700);
  const payment = (await pay(w.app, token, body, key)).json() as PaymentJson;
  expect(payment.status).toBe('SUCCEEDED');

  const res = await refund(w.app, token, payment.id, { amount: 100 });
  expect([res.statusCode, code(res)]).toEqual([502, 'GATEWAY_ERROR']);
  // The reserved 100 counts against what is left while the refund is in doubt.
  const tooMuch = await refund(w.app, token, payment.id, { amount: payment.amount - 99 });
  expect([tooMuch.statusCode, code(tooMuch)]).toEqual([409, 'REFUND_EXCEEDS_PAYMENT']);

  expect(
    await eventually(async () => {
      const now = (await w.app.inject({ url: `/v1/payments/${payment.id}`, headers: bearer(token) })).json() as PaymentJson;
      return now.status === 'PARTIALLY_REFUNDED' && now.refundedAmount === 100;
    }, 5_000, 100),
  ).toBe(true);
  const [charge] = await chargesOf(w, order.id);
  expect(charge).toMatchObject({ refundedAmount: 100 });
});
