import { randomUUID } from 'node:crypto';
import { eventually, ITEMS_TOTAL } from '../src/client';
import { topologyFromEnv } from '../src/platform';
import { expectProblem, signedUp as signUpOn, type Caller } from '../src/expect';

/**
 * CONTRACT.md, Payments: every row of the table over HTTP, with the sandbox provider's own
 * ledger (GET /v1/charges?orderId=) as the witness of where money moved.
 */
const topology = topologyFromEnv();
const signedUp = () => signUpOn(topology);
const PAYMENT_FIELDS = ['amount', 'createdAt', 'currency', 'failureCode', 'id', 'orderId', 'refundedAmount', 'status', 'updatedAt', 'userId'];
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;



const orderOf = ({ client, token }: Caller, id: string) => client.getOrder(token, id);
const paymentOf = ({ client, token }: Caller, id: string) => client.answer(client.api(token).payment.GET('/v1/payments/{id}', { params: { path: { id } } }));
const paymentsFor = ({ client, token }: Caller, orderId: string) => client.answer(client.api(token).payment.GET('/v1/payments', { params: { query: { orderId } } }));
const refund = ({ client, token }: Caller, paymentId: string, body: { amount?: number } = {}, key = randomUUID()) => client.refund(token, paymentId, body.amount, key);

/**
 * Polls the order (on the next instance each time) until it has the status; answers whether
 * it did in time. The contract's 2 s is asserted where a row names it; where the status is
 * only a step on the way, a loaded machine gets more slack.
 */
const becomes = (caller: Caller, id: string, status: string, withinMs = 10_000) => eventually(async () => (await orderOf(caller, id)).body?.status === status, withinMs, 100);

/** An order paid with tok_visa and seen PAID: the order id and the payment. */
async function paidOrder(caller: Caller) {
  const orderId = await caller.client.newOrder(caller.token);
  const paid = await caller.client.pay(caller.token, orderId);
  expect(paid.status).toBe(201);
  expect(await becomes(caller, orderId, 'PAID')).toBe(true);
  return { orderId, payment: paid.body };
}

describe('POST /v1/payments', () => {
  it('when a PENDING order is paid with tok_visa, then 201 SUCCEEDED with the order’s amount and currency, the order PAID within 2 s, and one charge at the provider', async () => {
    const caller = await signedUp();
    const orderId = await caller.client.newOrder(caller.token);
    const res = await caller.client.pay(caller.token, orderId);
    expect(res.status).toBe(201);
    const payment = res.body;
    expect(Object.keys(payment).sort()).toEqual(PAYMENT_FIELDS);
    expect(payment).toEqual({
      id: expect.stringMatching(UUID_V7),
      orderId,
      userId: caller.user.id,
      amount: ITEMS_TOTAL,
      currency: 'EUR',
      status: 'SUCCEEDED',
      failureCode: null,
      refundedAmount: 0,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(new Date(payment.createdAt).toISOString()).toBe(payment.createdAt);
    expect(res.headers.get('location')).toBe(`/v1/payments/${payment.id}`);
    expect(await becomes(caller, orderId, 'PAID', 2_000)).toBe(true);
    expect(await caller.client.charges(orderId)).toEqual([expect.objectContaining({ amount: ITEMS_TOTAL, status: 'succeeded', refundedAmount: 0 })]);
  });

  it('when tok_mastercard pays, then it succeeds as well', async () => {
    const caller = await signedUp();
    const orderId = await caller.client.newOrder(caller.token);
    const res = await caller.client.pay(caller.token, orderId, randomUUID(), 'tok_mastercard');
    expect([res.status, res.body.status]).toEqual([201, 'SUCCEEDED']);
  });

  it('when the Idempotency-Key header is missing, then 400 IDEMPOTENCY_KEY_MISSING and nothing is charged', async () => {
    const caller = await signedUp();
    const orderId = await caller.client.newOrder(caller.token);
    const body = { orderId, paymentMethod: { type: 'card', token: 'tok_visa' } };
    const res = await caller.client.request('payment', 'POST', '/v1/payments', { token: caller.token, body });
    expectProblem(res, 400, 'IDEMPOTENCY_KEY_MISSING');
    expect(await caller.client.charges(orderId)).toEqual([]);
    expect((await orderOf(caller, orderId)).body.status).toBe('PENDING');
  });

  it.each([
    ['an amount', 'body/amount', { amount: 1 }],
    ['a currency', 'body/currency', { currency: 'USD' }],
  ])('when the client names %s, then 400 VALIDATION_FAILED naming %s and nothing is charged', async (_case, path, extra) => {
    const caller = await signedUp();
    const orderId = await caller.client.newOrder(caller.token);
    const body = { orderId, paymentMethod: { type: 'card', token: 'tok_visa' }, ...extra };
    const res = await caller.client.request('payment', 'POST', '/v1/payments', { token: caller.token, body, headers: { 'idempotency-key': randomUUID() } });
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    expect(await caller.client.charges(orderId)).toEqual([]);
  });

  it.each([
    ['tok_chargeDeclined', 'CARD_DECLINED'],
    ['tok_chargeDeclinedInsufficientFunds', 'INSUFFICIENT_FUNDS'],
  ])('when %s pays, then 402 %s with the paymentId, the payment FAILED, and the order stays PENDING and payable with tok_visa', async (card, failure) => {
    const caller = await signedUp();
    const orderId = await caller.client.newOrder(caller.token);
    const res = await caller.client.pay(caller.token, orderId, randomUUID(), card);
    expectProblem(res, 402, failure);
    expect(res.body.paymentId).toMatch(UUID_V7);
    const kept = await paymentOf(caller, res.body.paymentId);
    expect([kept.status, kept.body]).toEqual([
      200,
      expect.objectContaining({ id: res.body.paymentId, orderId, status: 'FAILED', failureCode: failure, amount: ITEMS_TOTAL, refundedAmount: 0 }),
    ]);
    expect(await caller.client.charges(orderId)).toEqual([expect.objectContaining({ status: 'failed' })]);
    expect((await orderOf(caller, orderId)).body.status).toBe('PENDING');

    const retry = await caller.client.pay(caller.token, orderId);
    expect([retry.status, retry.body.status]).toEqual([201, 'SUCCEEDED']);
    expect(await becomes(caller, orderId, 'PAID')).toBe(true);
    expect((await paymentsFor(caller, orderId)).body.data.map((p: { id: string; status: string }) => [p.id, p.status])).toEqual([
      [res.body.paymentId, 'FAILED'],
      [retry.body.id, 'SUCCEEDED'],
    ]);
    expect((await caller.client.charges(orderId)).map((c) => c.status).sort()).toEqual(['failed', 'succeeded']);
  });

  it('when the order does not exist, or is another user’s, then the same 404 NOT_FOUND and nothing is charged', async () => {
    const owner = await signedUp();
    const caller = await signedUp();
    const theirOrder = await owner.client.newOrder(owner.token);
    const missing = await caller.client.pay(caller.token, randomUUID());
    const theirs = await caller.client.pay(caller.token, theirOrder);
    expectProblem(missing, 404, 'NOT_FOUND');
    expectProblem(theirs, 404, 'NOT_FOUND');
    expect(theirs.body.detail).toBe(missing.body.detail);
    expect(await caller.client.charges(theirOrder)).toEqual([]);
    expect((await orderOf(owner, theirOrder)).body.status).toBe('PENDING');
  });

  it('when the order is CANCELLED, then 409 ORDER_NOT_PAYABLE and nothing is charged', async () => {
    const caller = await signedUp();
    const orderId = await caller.client.newOrder(caller.token);
    expect((await caller.client.cancel(caller.token, orderId)).status).toBe(200);
    expectProblem(await caller.client.pay(caller.token, orderId), 409, 'ORDER_NOT_PAYABLE');
    expect(await caller.client.charges(orderId)).toEqual([]);
    expect((await orderOf(caller, orderId)).body.status).toBe('CANCELLED');
  });

  it('when the order is already paid, then another key gets 409 ORDER_NOT_PAYABLE and the provider charged once', async () => {
    const caller = await signedUp();
    const { orderId } = await paidOrder(caller);
    expectProblem(await caller.client.pay(caller.token, orderId), 409, 'ORDER_NOT_PAYABLE');
    expect((await caller.client.charges(orderId)).map((c) => c.status)).toEqual(['succeeded']);
  });

  it('when the provider fails (tok_gatewayError), then 502 GATEWAY_ERROR, nothing is charged, and the order stays PENDING and payable', async () => {
    const caller = await signedUp();
    const orderId = await caller.client.newOrder(caller.token);
    expectProblem(await caller.client.pay(caller.token, orderId, randomUUID(), 'tok_gatewayError'), 502, 'GATEWAY_ERROR');
    expect(await caller.client.charges(orderId)).toEqual([]);
    expect((await orderOf(caller, orderId)).body.status).toBe('PENDING');
    expect((await caller.client.pay(caller.token, orderId)).status).toBe(201);
    expect((await caller.client.charges(orderId)).map((c) => c.status)).toEqual(['succeeded']);
  });

  it('when 9 requests with different keys pay one order at once across the instances, then exactly one 201, the rest 409 ORDER_NOT_PAYABLE, and one charge', async () => {
    const caller = await signedUp();
    const orderId = await caller.client.newOrder(caller.token);
    const answers = await Promise.all(Array.from({ length: 9 }, (_, i) => caller.client.pay(caller.token, orderId, randomUUID(), 'tok_visa', { instance: i })));
    expect(answers.filter((r) => r.status === 201)).toHaveLength(1);
    expect(answers.filter((r) => r.status !== 201).map((r) => [r.status, r.body?.code])).toEqual(Array(8).fill([409, 'ORDER_NOT_PAYABLE']));
    expect((await caller.client.charges(orderId)).map((c) => c.status)).toEqual(['succeeded']);
    expect(await becomes(caller, orderId, 'PAID')).toBe(true);
  });

  it('when no bearer token is sent, then every payment route answers 401 and nothing is charged', async () => {
    const caller = await signedUp();
    const { orderId, payment } = await paidOrder(caller);
    for (const [method, path] of [
      ['POST', '/v1/payments'],
      ['GET', `/v1/payments/${payment.id}`],
      ['GET', `/v1/payments?orderId=${orderId}`],
      ['POST', `/v1/payments/${payment.id}/refunds`],
    ] as const) {
      const body = method === 'POST' ? { orderId, paymentMethod: { type: 'card', token: 'tok_visa' } } : undefined;
      const res = await caller.client.request('payment', method, path, { body: path.endsWith('refunds') ? {} : body, headers: { 'idempotency-key': randomUUID() } });
      expect([method, path, res.status]).toEqual([method, path, 401]);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect(await caller.client.charges(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', refundedAmount: 0 })]);
  });
});

describe('GET /v1/payments/{id} and GET /v1/payments?orderId=', () => {
  it('when the owner reads a payment on each instance, then 200 with the payment', async () => {
    const caller = await signedUp();
    const { payment } = await paidOrder(caller);
    for (const res of await caller.client.onEvery('payment', caller.token, (api) => api.payment.GET('/v1/payments/{id}', { params: { path: { id: payment.id } } }))) {
      expect([res.status, res.body]).toEqual([200, payment]);
    }
  });

  it.each([
    ['an unknown UUID', randomUUID()],
    ['a non-UUID id', 'not-a-uuid'],
  ])('when the payment id is %s, then 404 NOT_FOUND', async (_case, id) => {
    const caller = await signedUp();
    expectProblem(await paymentOf(caller, id), 404, 'NOT_FOUND');
  });

  it('when listed by order, then 200 {data} with the order’s payments; an order without payments lists none', async () => {
    const caller = await signedUp();
    const { orderId, payment } = await paidOrder(caller);
    const res = await paymentsFor(caller, orderId);
    expect([res.status, res.body]).toEqual([200, { data: [payment] }]);
    const unpaid = await caller.client.newOrder(caller.token);
    expect((await paymentsFor(caller, unpaid)).body).toEqual({ data: [] });
  });

  it.each([
    ['no orderId', ''],
    ['an orderId that is not a UUID', '?orderId=abc'],
    ['an empty orderId', '?orderId='],
  ])('when listed with %s, then 400 VALIDATION_FAILED', async (_case, query) => {
    const caller = await signedUp();
    const res = await caller.client.request('payment', 'GET', `/v1/payments${query}`, { token: caller.token });
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain('querystring/orderId');
  });
});

describe('POST /v1/payments/{id}/refunds', () => {
  it('when refunded in part and then without an amount, then PARTIALLY_REFUNDED, then REFUNDED, the order REFUNDED within 2 s, and the provider refunded the total', async () => {
    const caller = await signedUp();
    const { orderId, payment } = await paidOrder(caller);
    const part = await refund(caller, payment.id, { amount: 1_000 });
    expect(part.status).toBe(201);
    expect(Object.keys(part.body).sort()).toEqual(['amount', 'createdAt', 'id', 'paymentId']);
    expect(part.body).toEqual({ id: expect.stringMatching(UUID_V7), paymentId: payment.id, amount: 1_000, createdAt: expect.any(String) });
    expect((await paymentOf(caller, payment.id)).body).toMatchObject({ status: 'PARTIALLY_REFUNDED', refundedAmount: 1_000 });
    expect((await orderOf(caller, orderId)).body.status).toBe('PAID');
    expect(await caller.client.charges(orderId)).toEqual([expect.objectContaining({ refundedAmount: 1_000 })]);

    const rest = await refund(caller, payment.id);
    expect(rest.status).toBe(201);
    expect(rest.body).toEqual({ id: expect.stringMatching(UUID_V7), paymentId: payment.id, amount: ITEMS_TOTAL - 1_000, createdAt: expect.any(String) });
    expect(rest.body.id).not.toBe(part.body.id);
    expect((await paymentOf(caller, payment.id)).body).toMatchObject({ status: 'REFUNDED', refundedAmount: ITEMS_TOTAL });
    expect(await becomes(caller, orderId, 'REFUNDED', 2_000)).toBe(true);
    expect(await caller.client.charges(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amount: ITEMS_TOTAL, refundedAmount: ITEMS_TOTAL })]);
  });

  it('when the amount is more than is left, then 409 REFUND_EXCEEDS_PAYMENT and nothing is refunded', async () => {
    const caller = await signedUp();
    const { orderId, payment } = await paidOrder(caller);
    expectProblem(await refund(caller, payment.id, { amount: ITEMS_TOTAL + 1 }), 409, 'REFUND_EXCEEDS_PAYMENT');
    expect((await refund(caller, payment.id, { amount: 100 })).status).toBe(201);
    expectProblem(await refund(caller, payment.id, { amount: ITEMS_TOTAL - 99 }), 409, 'REFUND_EXCEEDS_PAYMENT');
    expect((await paymentOf(caller, payment.id)).body).toMatchObject({ status: 'PARTIALLY_REFUNDED', refundedAmount: 100 });
    expect((await caller.client.charges(orderId))[0]?.refundedAmount).toBe(100);
  });

  it('when the payment FAILED, or is refunded in full already, then 409 PAYMENT_NOT_REFUNDABLE', async () => {
    const caller = await signedUp();
    const orderId = await caller.client.newOrder(caller.token);
    const declined = await caller.client.pay(caller.token, orderId, randomUUID(), 'tok_chargeDeclined');
    expect(declined.status).toBe(402);
    expectProblem(await refund(caller, declined.body.paymentId), 409, 'PAYMENT_NOT_REFUNDABLE');
    expect((await paymentOf(caller, declined.body.paymentId)).body).toMatchObject({ status: 'FAILED', refundedAmount: 0 });

    const { payment } = await paidOrder(caller);
    expect((await refund(caller, payment.id)).status).toBe(201);
    expectProblem(await refund(caller, payment.id, { amount: 1 }), 409, 'PAYMENT_NOT_REFUNDABLE');
  });

  it('when the payment is another user’s or unknown, then the same 404 NOT_FOUND and the owner’s payment is not refunded', async () => {
    const owner = await signedUp();
    const caller = await signedUp();
    const { orderId, payment } = await paidOrder(owner);
    const theirs = await refund(caller, payment.id);
    const unknown = await refund(caller, randomUUID());
    expectProblem(theirs, 404, 'NOT_FOUND');
    expectProblem(unknown, 404, 'NOT_FOUND');
    expect(theirs.body.detail).toBe(unknown.body.detail);
    expect((await paymentOf(owner, payment.id)).body).toMatchObject({ status: 'SUCCEEDED', refundedAmount: 0 });
    expect((await owner.client.charges(orderId))[0]?.refundedAmount).toBe(0);
  });
});
