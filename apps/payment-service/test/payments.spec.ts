import type { App } from '@platform/service-kit';
import { buildApp, eventually, startSilentServer, TcpProxy } from '@platform/testing';
import { randomUUID } from 'node:crypto';
import { definition } from '../src/app';
import { bearer, buildWorld, cancelOrder, card, chargesOf, orderOf, pay, placeOrder, refund, type PaymentJson, type World } from './helper';

/** CONTRACT.md, Payments: every row of the table, against real order-service and sandbox processes. */
let w: World;
beforeAll(async () => {
  w = await buildWorld();
}, 90_000);
afterAll(() => w?.close());

const code = (res: { json(): unknown }) => (res.json() as { code?: string }).code;

async function paidOrder(token: string) {
  const order = await placeOrder(w, token);
  const res = await pay(w.app, token, { orderId: order.id, paymentMethod: card() });
  expect(res.statusCode).toBe(201);
  return { order, payment: res.json() as PaymentJson };
}

describe('POST /v1/payments', () => {
  it('when a PENDING order is paid with tok_visa, then 201 SUCCEEDED with the order’s amount and currency, a Location, and one charge at the provider', async () => {
    const { token, userId } = w.tokenFor();
    const order = await placeOrder(w, token);
    const res = await pay(w.app, token, { orderId: order.id, paymentMethod: card('tok_visa') });
    expect(res.statusCode).toBe(201);
    const payment = res.json() as PaymentJson;
    expect(Object.keys(payment).sort()).toEqual(
      ['amount', 'createdAt', 'currency', 'failureCode', 'id', 'orderId', 'refundedAmount', 'status', 'updatedAt', 'userId'].sort(),
    );
    expect(payment).toMatchObject({ orderId: order.id, userId, amount: order.totalAmount, currency: 'EUR', status: 'SUCCEEDED', failureCode: null, refundedAmount: 0 });
    expect(res.headers.location).toBe(`/v1/payments/${payment.id}`);
    expect(await chargesOf(w, order.id)).toEqual([expect.objectContaining({ status: 'succeeded', amount: order.totalAmount, currency: 'EUR', refundedAmount: 0 })]);
  });

  it('when the payment succeeded, then the order is PAID within 2 seconds', async () => {
    const { token } = w.tokenFor();
    const { order } = await paidOrder(token);
    expect(await eventually(async () => (await orderOf(w, token, order.id)).status === 'PAID', 2_000, 50)).toBe(true);
  });

  it('when tok_mastercard pays, then it succeeds too', async () => {
    const { token } = w.tokenFor();
    const order = await placeOrder(w, token);
    expect((await pay(w.app, token, { orderId: order.id, paymentMethod: card('tok_mastercard') })).json()).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('when the Idempotency-Key header is missing, then 400 IDEMPOTENCY_KEY_MISSING and nothing is charged', async () => {
    const { token } = w.tokenFor();
    const order = await placeOrder(w, token);
    const res = await pay(w.app, token, { orderId: order.id, paymentMethod: card() }, null);
    expect(res.statusCode).toBe(400);
    expect(code(res)).toBe('IDEMPOTENCY_KEY_MISSING');
    expect(await chargesOf(w, order.id)).toEqual([]);
  });

  it.each([
    ['no orderId', { paymentMethod: card() }, 'body/orderId'],
    ['an orderId that is not a UUID', { orderId: 'order-1', paymentMethod: card() }, 'body/orderId'],
    ['no paymentMethod', { orderId: randomUUID() }, 'body/paymentMethod'],
    ['a method other than card', { orderId: randomUUID(), paymentMethod: { type: 'paypal', token: 'tok_visa' } }, 'body/paymentMethod/type'],
    ['a token without the tok_ prefix', { orderId: randomUUID(), paymentMethod: card('4242424242424242') }, 'body/paymentMethod/token'],
    ['a client-chosen amount', { orderId: randomUUID(), paymentMethod: card(), amount: 1 }, 'body/amount'],
    ['a client-chosen currency', { orderId: randomUUID(), paymentMethod: card(), currency: 'USD' }, 'body/currency'],
    ['an undeclared property in the method', { orderId: randomUUID(), paymentMethod: { ...card(), cvc: '123' } }, 'body/paymentMethod/cvc'],
  ])('when the body has %s, then 400 VALIDATION_FAILED naming %s', async (_label, body, path) => {
    const { token } = w.tokenFor();
    const res = await pay(w.app, token, body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [expect.objectContaining({ path })] });
  });

  it('when the provider does not know the card token, then 400 naming the token, no payment is kept and the key runs again', async () => {
    const { token } = w.tokenFor();
    const order = await placeOrder(w, token);
    const key = randomUUID();
    const body = { orderId: order.id, paymentMethod: card('tok_unknownCard') };
    const res = await pay(w.app, token, body, key);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: 'body/paymentMethod/token' }] });
    expect((await pay(w.app, token, body, key)).headers['idempotent-replayed']).toBeUndefined();
    expect((await w.app.inject({ url: `/v1/payments?orderId=${order.id}`, headers: bearer(token) })).json()).toEqual({ data: [] });
  });

  it.each([
    ['tok_chargeDeclined', 'CARD_DECLINED'],
    ['tok_chargeDeclinedInsufficientFunds', 'INSUFFICIENT_FUNDS'],
  ])('when %s pays, then 402 %s with the paymentId, kept FAILED, and the order stays PENDING and payable', async (cardToken, failure) => {
    const { token } = w.tokenFor();
    const order = await placeOrder(w, token);
    const res = await pay(w.app, token, { orderId: order.id, paymentMethod: card(cardToken) });
    expect(res.statusCode).toBe(402);
    const problem = res.json() as { code: string; paymentId: string };
    expect(problem.code).toBe(failure);
    const kept = await w.app.inject({ url: `/v1/payments/${problem.paymentId}`, headers: bearer(token) });
    expect(kept.json()).toMatchObject({ status: 'FAILED', failureCode: failure, orderId: order.id, refundedAmount: 0 });
    expect(await chargesOf(w, order.id)).toEqual([expect.objectContaining({ status: 'failed' })]);
    expect((await orderOf(w, token, order.id)).status).toBe('PENDING');

    const retry = await pay(w.app, token, { orderId: order.id, paymentMethod: card() });
    expect(retry.statusCode).toBe(201);
    const list = await w.app.inject({ url: `/v1/payments?orderId=${order.id}`, headers: bearer(token) });
    expect((list.json() as { data: PaymentJson[] }).data.map((p) => p.status)).toEqual(['FAILED', 'SUCCEEDED']);
  });

  it('when the order does not exist, or is another user’s, then 404 and nothing is charged', async () => {
    const { token } = w.tokenFor();
    const missing = await pay(w.app, token, { orderId: randomUUID(), paymentMethod: card() });
    expect(missing.statusCode).toBe(404);
    expect(code(missing)).toBe('NOT_FOUND');

    const owner = w.tokenFor();
    const order = await placeOrder(w, owner.token);
    const theirs = await pay(w.app, token, { orderId: order.id, paymentMethod: card() });
    expect(theirs.statusCode).toBe(404);
    expect(theirs.json()).toMatchObject({ code: 'NOT_FOUND', detail: missing.json().detail });
    expect(await chargesOf(w, order.id)).toEqual([]);
  });

  it('when the order is CANCELLED, then 409 ORDER_NOT_PAYABLE and nothing is charged', async () => {
    const { token } = w.tokenFor();
    const order = await placeOrder(w, token);
    expect(await cancelOrder(w, token, order.id)).toBe(200);
    const res = await pay(w.app, token, { orderId: order.id, paymentMethod: card() });
    expect(res.statusCode).toBe(409);
    expect(code(res)).toBe('ORDER_NOT_PAYABLE');
    expect(await chargesOf(w, order.id)).toEqual([]);
  });

  it('when the order is already paid, then another key gets 409 ORDER_NOT_PAYABLE, before and after the order shows PAID', async () => {
    const { token } = w.tokenFor();
    const { order } = await paidOrder(token);
    const early = await pay(w.app, token, { orderId: order.id, paymentMethod: card() });
    expect(early.statusCode).toBe(409);
    expect(code(early)).toBe('ORDER_NOT_PAYABLE');
    await eventually(async () => (await orderOf(w, token, order.id)).status === 'PAID', 2_000, 50);
    const late = await pay(w.app, token, { orderId: order.id, paymentMethod: card() });
    expect(code(late)).toBe('ORDER_NOT_PAYABLE');
    expect(await chargesOf(w, order.id)).toHaveLength(1);
  });

  it('when the provider fails (tok_gatewayError), then 502 GATEWAY_ERROR, nothing kept, and a retry with the key runs again', async () => {
    const { token } = w.tokenFor();
    const order = await placeOrder(w, token);
    const key = randomUUID();
    const body = { orderId: order.id, paymentMethod: card('tok_gatewayError') };
    const res = await pay(w.app, token, body, key);
    expect(res.statusCode).toBe(502);
    expect(code(res)).toBe('GATEWAY_ERROR');
    const again = await pay(w.app, token, body, key);
    expect(again.statusCode).toBe(502);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(await chargesOf(w, order.id)).toEqual([]);
    expect((await w.app.inject({ url: `/v1/payments?orderId=${order.id}`, headers: bearer(token) })).json()).toEqual({ data: [] });
    // The failed attempt left nothing behind that would block the order.
    expect((await pay(w.app, token, { orderId: order.id, paymentMethod: card() })).statusCode).toBe(201);
  });

  it('when the same key and body come again, then the first answer is replayed with Idempotent-Replayed and nothing is charged again', async () => {
    const { token } = w.tokenFor();
    const order = await placeOrder(w, token);
    const key = randomUUID();
    const body = { orderId: order.id, paymentMethod: card() };
    const first = await pay(w.app, token, body, key);
    const again = await pay(w.app, token, body, key);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(first.body);
    expect(await chargesOf(w, order.id)).toHaveLength(1);
  });

  it('when a declined payment’s key comes again, then the 402 is replayed, not charged again', async () => {
    const { token } = w.tokenFor();
    const order = await placeOrder(w, token);
    const key = randomUUID();
    const body = { orderId: order.id, paymentMethod: card('tok_chargeDeclined') };
    const first = await pay(w.app, token, body, key);
    const again = await pay(w.app, token, body, key);
    expect(again.statusCode).toBe(402);
    expect(again.body).toBe(first.body);
    expect(await chargesOf(w, order.id)).toHaveLength(1);
  });

  it('when the same key comes with another body, then 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const { token } = w.tokenFor();
    const [a, b] = [await placeOrder(w, token), await placeOrder(w, token)];
    const key = randomUUID();
    expect((await pay(w.app, token, { orderId: a.id, paymentMethod: card() }, key)).statusCode).toBe(201);
    const res = await pay(w.app, token, { orderId: b.id, paymentMethod: card() }, key);
    expect(res.statusCode).toBe(422);
    expect(code(res)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await chargesOf(w, b.id)).toEqual([]);
  });

  it('when no bearer token is sent, then 401 on every payment route', async () => {
    const id = randomUUID();
    for (const [method, url] of [
      ['POST', '/v1/payments'],
      ['GET', `/v1/payments/${id}`],
      ['GET', `/v1/payments?orderId=${id}`],
      ['POST', `/v1/payments/${id}/refunds`],
    ] as const) {
      const res = await w.app.inject({ method, url, headers: { 'idempotency-key': randomUUID() }, ...(method === 'POST' ? { payload: {} } : {}) });
      expect([url, res.statusCode]).toEqual([url, 401]);
    }
  });
});

describe('GET /v1/payments', () => {
  it('when the owner reads a payment, then 200; another user, an unknown id or a non-UUID get the same 404', async () => {
    const { token } = w.tokenFor();
    const { payment } = await paidOrder(token);
    const own = await w.app.inject({ url: `/v1/payments/${payment.id}`, headers: bearer(token) });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ id: payment.id, status: 'SUCCEEDED' });
    const other = w.tokenFor();
    for (const url of [`/v1/payments/${payment.id}`, `/v1/payments/${randomUUID()}`, '/v1/payments/not-a-uuid']) {
      const res = await w.app.inject({ url, headers: bearer(other.token) });
      expect([url, res.statusCode, code(res)]).toEqual([url, 404, 'NOT_FOUND']);
    }
  });

  it('when listed by order, then the owner sees its payments oldest first and another user sees none', async () => {
    const { token } = w.tokenFor();
    const order = await placeOrder(w, token);
    await pay(w.app, token, { orderId: order.id, paymentMethod: card('tok_chargeDeclined') });
    await pay(w.app, token, { orderId: order.id, paymentMethod: card() });
    const list = (await w.app.inject({ url: `/v1/payments?orderId=${order.id}`, headers: bearer(token) })).json() as { data: PaymentJson[] };
    expect(list.data.map((p) => [p.status, p.orderId])).toEqual([
      ['FAILED', order.id],
      ['SUCCEEDED', order.id],
    ]);
    const other = w.tokenFor();
    expect((await w.app.inject({ url: `/v1/payments?orderId=${order.id}`, headers: bearer(other.token) })).json()).toEqual({ data: [] });
  });

  it.each([
    ['no orderId', ''],
    ['an orderId that is not a UUID', '?orderId=abc'],
    ['an unknown parameter', `?orderId=${randomUUID()}&status=PAID`],
  ])('when listed with %s, then 400', async (_label, query) => {
    const { token } = w.tokenFor();
    const res = await w.app.inject({ url: `/v1/payments${query}`, headers: bearer(token) });
    expect(res.statusCode).toBe(400);
    expect(code(res)).toBe('VALIDATION_FAILED');
  });
});

describe('ETag and If-None-Match on GET /v1/payments/{id}', () => {
  const read = (token: string, id: string, headers: Record<string, string> = {}) => w.app.inject({ url: `/v1/payments/${id}`, headers: { ...bearer(token), ...headers } });

  it('when a payment is read, then a strong ETag of its id and version: 304 while it names the current one, a new one after each refund', async () => {
    const { token } = w.tokenFor();
    const { payment } = await paidOrder(token);
    const first = await read(token, payment.id);
    const tag = first.headers['etag'] as string;
    expect(tag).toMatch(new RegExp(`^"${payment.id}\\.[0-9]+"$`));
    expect(Object.keys(first.json()).sort()).toEqual(Object.keys(payment).sort());
    const same = await read(token, payment.id, { 'if-none-match': tag, 'x-request-id': 'pay-304' });
    expect([same.statusCode, same.body, same.headers['etag'], same.headers['x-request-id']]).toEqual([304, '', tag, 'pay-304']);
    expect(same.headers['ratelimit']).toBeDefined();
    expect((await read(token, payment.id, { 'if-none-match': '*' })).statusCode).toBe(304);

    expect((await refund(w.app, token, payment.id, { amount: 100 })).statusCode).toBe(201);
    const partly = await read(token, payment.id, { 'if-none-match': tag });
    expect([partly.statusCode, partly.json().refundedAmount]).toEqual([200, 100]);
    expect(partly.headers['etag']).not.toBe(tag);
    expect((await refund(w.app, token, payment.id)).statusCode).toBe(201);
    const done = await read(token, payment.id, { 'if-none-match': partly.headers['etag'] as string });
    expect([done.statusCode, done.json().status]).toEqual([200, 'REFUNDED']);
    expect(new Set([tag, partly.headers['etag'], done.headers['etag']]).size).toBe(3);
  });

  it('when another user names the payment’s tag, then still 404', async () => {
    const { token } = w.tokenFor();
    const { payment } = await paidOrder(token);
    const tag = (await read(token, payment.id)).headers['etag'] as string;
    expect((await read(w.tokenFor().token, payment.id, { 'if-none-match': tag })).statusCode).toBe(404);
  });
});

describe('POST /v1/payments/{id}/refunds', () => {
  it('when refunded in part and then without an amount, then PARTIALLY_REFUNDED, then REFUNDED with the rest, and the order REFUNDED', async () => {
    const { token } = w.tokenFor();
    const { order, payment } = await paidOrder(token);
    await eventually(async () => (await orderOf(w, token, order.id)).status === 'PAID', 2_000, 50);

    const part = await refund(w.app, token, payment.id, { amount: 1000 });
    expect(part.statusCode).toBe(201);
    const first = part.json() as { id: string; paymentId: string; amount: number; createdAt: string };
    expect(Object.keys(first).sort()).toEqual(['amount', 'createdAt', 'id', 'paymentId']);
    expect(first).toMatchObject({ paymentId: payment.id, amount: 1000 });
    const after = await w.app.inject({ url: `/v1/payments/${payment.id}`, headers: bearer(token) });
    expect(after.json()).toMatchObject({ status: 'PARTIALLY_REFUNDED', refundedAmount: 1000 });
    expect((await orderOf(w, token, order.id)).status).toBe('PAID');

    const rest = await refund(w.app, token, payment.id);
    expect(rest.statusCode).toBe(201);
    expect(rest.json()).toMatchObject({ amount: payment.amount - 1000 });
    const done = await w.app.inject({ url: `/v1/payments/${payment.id}`, headers: bearer(token) });
    expect(done.json()).toMatchObject({ status: 'REFUNDED', refundedAmount: payment.amount });
    expect(await eventually(async () => (await orderOf(w, token, order.id)).status === 'REFUNDED', 2_000, 50)).toBe(true);
    expect(await chargesOf(w, order.id)).toEqual([expect.objectContaining({ refundedAmount: payment.amount })]);
  });

  it('when a refund is sent with no body at all, then all that is left is refunded', async () => {
    const { token } = w.tokenFor();
    const { payment } = await paidOrder(token);
    const res = await w.app.inject({ method: 'POST', url: `/v1/payments/${payment.id}/refunds`, headers: { ...bearer(token), 'idempotency-key': randomUUID() } });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ amount: payment.amount });
  });

  it('when the amount is more than is left, then 409 REFUND_EXCEEDS_PAYMENT and nothing is refunded', async () => {
    const { token } = w.tokenFor();
    const { order, payment } = await paidOrder(token);
    expect((await refund(w.app, token, payment.id, { amount: 100 })).statusCode).toBe(201);
    const res = await refund(w.app, token, payment.id, { amount: payment.amount - 99 });
    expect(res.statusCode).toBe(409);
    expect(code(res)).toBe('REFUND_EXCEEDS_PAYMENT');
    expect((await chargesOf(w, order.id))[0]?.refundedAmount).toBe(100);
  });

  it('when the payment is FAILED or already fully refunded, then 409 PAYMENT_NOT_REFUNDABLE', async () => {
    const { token } = w.tokenFor();
    const order = await placeOrder(w, token);
    const declined = (await pay(w.app, token, { orderId: order.id, paymentMethod: card('tok_chargeDeclined') })).json() as { paymentId: string };
    const failed = await refund(w.app, token, declined.paymentId);
    expect(failed.statusCode).toBe(409);
    expect(code(failed)).toBe('PAYMENT_NOT_REFUNDABLE');

    const { payment } = await paidOrder(token);
    expect((await refund(w.app, token, payment.id)).statusCode).toBe(201);
    for (const body of [{}, { amount: 1 }]) {
      const res = await refund(w.app, token, payment.id, body);
      expect([res.statusCode, code(res)]).toEqual([409, 'PAYMENT_NOT_REFUNDABLE']);
    }
  });

  it('when the payment is unknown or another user’s, then 404', async () => {
    const owner = w.tokenFor();
    const { payment } = await paidOrder(owner.token);
    const { token } = w.tokenFor();
    for (const id of [payment.id, randomUUID(), 'nope']) {
      const res = await refund(w.app, token, id);
      expect([id, res.statusCode, code(res)]).toEqual([id, 404, 'NOT_FOUND']);
    }
    expect((await w.app.inject({ url: `/v1/payments/${payment.id}`, headers: bearer(owner.token) })).json()).toMatchObject({ refundedAmount: 0 });
  });

  it.each([
    ['an amount of 0', { amount: 0 }],
    ['a string amount', { amount: '100' }],
    ['a fractional amount', { amount: 1.5 }],
    ['an undeclared property', { amount: 1, reason: 'x' }],
  ])('when the refund has %s, then 400 VALIDATION_FAILED', async (_label, body) => {
    const { token } = w.tokenFor();
    const res = await refund(w.app, token, randomUUID(), body);
    expect(res.statusCode).toBe(400);
    expect(code(res)).toBe('VALIDATION_FAILED');
  });

  it('when the Idempotency-Key header is missing, then 400 IDEMPOTENCY_KEY_MISSING', async () => {
    const { token } = w.tokenFor();
    const res = await refund(w.app, token, randomUUID(), {}, null);
    expect([res.statusCode, code(res)]).toEqual([400, 'IDEMPOTENCY_KEY_MISSING']);
  });

  it('when a refund’s key comes again, then it is replayed and the provider refunds once; another body is 422', async () => {
    const { token } = w.tokenFor();
    const { order, payment } = await paidOrder(token);
    const key = randomUUID();
    const first = await refund(w.app, token, payment.id, { amount: 500 }, key);
    const again = await refund(w.app, token, payment.id, { amount: 500 }, key);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(first.body);
    expect((await chargesOf(w, order.id))[0]?.refundedAmount).toBe(500);
    const other = await refund(w.app, token, payment.id, { amount: 600 }, key);
    expect([other.statusCode, code(other)]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
  });

  it('when 10 refunds of a third each race, then exactly three go through and the rest are 409', async () => {
    const { token } = w.tokenFor();
    const order = await placeOrder(w, token, [{ sku: 'X', name: 'x', unitPrice: 300, quantity: 1 }]);
    const payment = (await pay(w.app, token, { orderId: order.id, paymentMethod: card() })).json() as PaymentJson;
    const answers = await Promise.all(Array.from({ length: 10 }, () => refund(w.app, token, payment.id, { amount: 100 })));
    const statuses = answers.map((r) => r.statusCode).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(3);
    expect(answers.filter((r) => r.statusCode === 409).map(code).every((c) => c === 'REFUND_EXCEEDS_PAYMENT' || c === 'PAYMENT_NOT_REFUNDABLE')).toBe(true);
    expect(statuses.filter((s) => s !== 201 && s !== 409)).toEqual([]);
    expect((await chargesOf(w, order.id))[0]?.refundedAmount).toBe(300);
  });
});

describe('the calls to order-service and the provider', () => {
  /** Another payment-service instance on the same schema, with `env` over the world's; no sweep of its own. */
  async function instance(env: Record<string, string>): Promise<App> {
    return buildApp(definition, { ...w.env, PAYMENT_RECOVERY_INTERVAL_MS: '0', ...env });
  }

  it('when payments follow one another, then they reach order-service and the provider over one keep-alive connection each', async () => {
    const [orders, provider] = [TcpProxy.forUrl(w.orders.url), TcpProxy.forUrl(w.sandbox.url)];
    await Promise.all([orders.start(), provider.start()]);
    const app = await instance({ ORDER_SERVICE_URL: orders.rewrite(w.orders.url), PAYMENT_GATEWAY_URL: provider.rewrite(w.sandbox.url) });
    try {
      const { token } = w.tokenFor();
      for (let i = 0; i < 3; i++) {
        const order = await placeOrder(w, token);
        expect((await pay(app, token, { orderId: order.id, paymentMethod: card() })).statusCode).toBe(201);
      }
      expect([orders.accepted, provider.accepted]).toEqual([1, 1]);
    } finally {
      await app.close();
      await Promise.all([orders.stop(), provider.stop()]);
    }
  });

  it('when order-service accepts connections and never answers, then 503 DEPENDENCY_UNAVAILABLE with Retry-After, nothing charged, and the key runs again at once', async () => {
    const silent = await startSilentServer();
    const app = await instance({ ORDER_SERVICE_URL: silent.url });
    try {
      const { token } = w.tokenFor();
      const order = await placeOrder(w, token);
      const key = randomUUID();
      const body = { orderId: order.id, paymentMethod: card() };
      const started = Date.now();
      const res = await pay(app, token, body, key);
      // PEER_TIMEOUT_MS (1 s), up to half a second late on undici's clock, and a second of slack for a loaded machine.
      expect(Date.now() - started).toBeLessThan(1_500 + 1_000);
      expect([res.statusCode, code(res), res.headers['retry-after']]).toEqual([503, 'DEPENDENCY_UNAVAILABLE', '1']);
      const again = await pay(app, token, body, key);
      expect([again.statusCode, code(again)]).toEqual([503, 'DEPENDENCY_UNAVAILABLE']);
      expect(await chargesOf(w, order.id)).toEqual([]);
    } finally {
      await app.close();
      await silent.close();
    }
  });
});
