import type { App } from '@platform/service-kit';
import { buildApp, closedPort, eventually, startDroppingPeer, startPeerProcess, startSilentServer } from '@platform/testing';
import { randomUUID } from 'node:crypto';
import { definition } from '../src/app';
import { bearer, buildWorld, card, chargesOf, orderOf, pay, placeOrder, refund, type PaymentJson, type World } from './helper';

/**
 * The provider answers after 3 s and payment-service waits 200 ms per attempt, twice (which
 * undici, checking its timeouts on half-second ticks, ends within 0.5-1 s): every charge and
 * refund ends without a final answer. What was charged must still be found and settled, by the
 * key's retry or by the recovery sweep, and never twice.
 */
const LATENCY_MS = 3_000;
/** Longer than a request's whole provider budget (about 2.2 s here) and than the provider's latency. */
const STALE_AFTER_MS = 6_000;
/** How long the sweep may take to settle what a request left: staleness, one sweep, and slack. */
const SETTLED_WITHIN_MS = STALE_AFTER_MS + 2_000;
let w: World;
beforeAll(async () => {
  w = await buildWorld({
    sandboxEnv: { GATEWAY_LATENCY_MS: String(LATENCY_MS) },
    env: { GATEWAY_TIMEOUT_MS: '200', GATEWAY_MAX_ATTEMPTS: '2', PAYMENT_STALE_AFTER_MS: String(STALE_AFTER_MS), PAYMENT_RECOVERY_INTERVAL_MS: '300' },
  });
}, 90_000);
afterAll(() => w?.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const code = (res: { json(): unknown }) => (res.json() as { code?: string }).code;

async function statusOf(token: string, paymentId: string, world: World = w): Promise<string | undefined> {
  const res = await world.app.inject({ url: `/v1/payments/${paymentId}`, headers: bearer(token) });
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

  expect(await eventually(async () => (await statusOf(token, paymentId)) === 'SUCCEEDED', SETTLED_WITHIN_MS, 100)).toBe(true);
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
  await sleep(LATENCY_MS);
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
  await sleep(LATENCY_MS);
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
    }, SETTLED_WITHIN_MS, 100),
  ).toBe(true);
  const [charge] = await chargesOf(w, order.id);
  expect(charge).toMatchObject({ refundedAmount: 100 });
});

describe('when the provider cannot be reached', () => {
  const apps: App[] = [];
  afterAll(() => Promise.all(apps.map((a) => a.close())));

  /** Another payment-service instance on the same schema whose provider is at `url`; no sweep of its own. */
  async function appWithProvider(url: string, gateway: Record<string, string> = {}): Promise<App> {
    const { GATEWAY_TIMEOUT_MS: _t, GATEWAY_MAX_ATTEMPTS: _a, ...env } = w.env;
    const app = await buildApp(definition, { ...env, PAYMENT_GATEWAY_URL: url, PAYMENT_RECOVERY_INTERVAL_MS: '0', ...gateway });
    apps.push(app);
    return app;
  }

  /** Pays a new order on `app`: the answer, and how long it took. */
  async function timedPayment(app: App) {
    const { token } = w.tokenFor();
    const order = await placeOrder(w, token);
    const started = Date.now();
    const res = await pay(app, token, { orderId: order.id, paymentMethod: card() });
    return { status: res.statusCode, body: res.json() as { code?: string; paymentId?: string }, ms: Date.now() - started, order };
  }

  /** A loaded machine's slack on top of a budget. */
  const SLACK_MS = 1_000;

  it('when the provider refuses connections, then 502 GATEWAY_ERROR with the paymentId at once', async () => {
    const app = await appWithProvider(`http://127.0.0.1:${await closedPort()}`);
    const res = await timedPayment(app);
    expect([res.status, res.body.code]).toEqual([502, 'GATEWAY_ERROR']);
    expect(res.body.paymentId).toEqual(expect.any(String));
    expect(res.ms).toBeLessThan(SLACK_MS);
  });

  it('when the provider accepts connections and never answers, then 502 after two attempts and a lookup, each on a new connection', async () => {
    const silent = await startSilentServer();
    try {
      const app = await appWithProvider(silent.url, { GATEWAY_TIMEOUT_MS: '500', GATEWAY_MAX_ATTEMPTS: '2' });
      const res = await timedPayment(app);
      expect([res.status, res.body.code]).toEqual([502, 'GATEWAY_ERROR']);
      // Three waits of 0.5 s, each up to 0.5 s late on undici's clock, and the back-off between the attempts.
      expect(res.ms).toBeLessThan(3 * 1_000 + 150 + SLACK_MS);
      // A connection whose call timed out is closed, never used again.
      await sleep(100);
      expect([silent.accepted, silent.open]).toEqual([3, 0]);
    } finally {
      await silent.close();
    }
  });

  /** A provider process, frozen (SIGSTOP): it keeps its port and the kernel accepts connections, but nothing answers. */
  async function startFrozenProvider() {
    const provider = await startPeerProcess();
    provider.freeze();
    return provider;
  }

  it.each([
    ['is frozen', startFrozenProvider],
    ['drops new connections', startDroppingPeer],
  ])('when the provider %s, then with the default settings 502 comes well within the 5 s a dependency may take', async (_, start) => {
    const provider = await start();
    try {
      const app = await appWithProvider(provider.url);
      const res = await timedPayment(app);
      expect([res.status, res.body.code]).toEqual([502, 'GATEWAY_ERROR']);
      // Two attempts and a lookup, each ended within 1 s by undici's clock, and the back-off.
      expect(res.ms).toBeLessThan(3 * 1_000 + 150 + SLACK_MS);
    } finally {
      await provider.close();
    }
  });
});

describe('when the provider runs a charge only after the payment went stale', () => {
  /** The provider takes longer than the payment takes to go stale: the sweep looks while the charge is still running there. */
  const SLOW_MS = 6_000;
  let slow: World;
  beforeAll(async () => {
    slow = await buildWorld({
      sandboxEnv: { GATEWAY_LATENCY_MS: String(SLOW_MS) },
      env: { GATEWAY_TIMEOUT_MS: '200', GATEWAY_MAX_ATTEMPTS: '1', PAYMENT_STALE_AFTER_MS: '2000', PAYMENT_RECOVERY_INTERVAL_MS: '300' },
    });
  }, 90_000);
  afterAll(() => slow?.close());

  it('then the sweep does not take "no charge yet" for "never charged": it cancels by the key, and the payment ends as the provider has it, SUCCEEDED with the order PAID', async () => {
    const { token } = slow.tokenFor();
    const order = await placeOrder(slow, token);
    const res = await pay(slow.app, token, { orderId: order.id, paymentMethod: card() });
    expect([res.statusCode, code(res)]).toEqual([502, 'GATEWAY_ERROR']);
    const { paymentId } = res.json() as { paymentId: string };
    const status = () => statusOf(token, paymentId, slow);
    // Stale at 2 s, while the provider still runs the charge (it lands at 6 s): never FAILED meanwhile.
    const seen = new Set<string | undefined>();
    await eventually(async () => seen.add(await status()).has('SUCCEEDED'), SLOW_MS + 4_000, 100);
    expect([...seen].filter((s) => s !== undefined)).toEqual(['SUCCEEDED']);
    expect(await eventually(async () => (await orderOf(slow, token, order.id)).status === 'PAID', 3_000, 50)).toBe(true);
    expect(await chargesOf(slow, order.id)).toEqual([expect.objectContaining({ status: 'succeeded' })]);
  });
});
