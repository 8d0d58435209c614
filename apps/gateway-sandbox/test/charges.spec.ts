import type { App } from '@platform/service-kit';
import { randomUUID } from 'node:crypto';
import { build, chargeBody, chargesOf, get, newKey, post, problem, type Charge } from './helper';

let app: App;
beforeAll(async () => {
  app = await build();
});
afterAll(() => app.close());

describe('POST /v1/charges by token', () => {
  it.each(['tok_visa', 'tok_mastercard'])('when %s is charged, then 201 with a succeeded charge that GET answers too', async (token) => {
    const body = chargeBody({ token, amount: 4250, currency: 'USD' });
    const res = await post(app, '/v1/charges', body);
    expect(res.statusCode).toBe(201);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
    const charge = res.json<Charge>();
    expect(charge).toEqual({
      id: expect.stringMatching(/^ch_[0-9a-f]{24}$/),
      orderId: body.orderId,
      reference: null,
      amount: 4250,
      currency: 'USD',
      status: 'succeeded',
      failureCode: null,
      refundedAmount: 0,
      refunds: [],
      createdAt: expect.any(String),
    });
    expect(new Date(charge.createdAt).toISOString()).toBe(charge.createdAt);
    expect((await get(app, `/v1/charges/${charge.id}`)).json()).toEqual(charge);
    expect(await chargesOf(app, body.orderId)).toEqual([charge]);
  });

  it('when a reference is sent, then the charge carries it', async () => {
    const res = await post(app, '/v1/charges', chargeBody({ reference: 'pay_01J.x:y-z' }));
    expect(res.json<Charge>().reference).toBe('pay_01J.x:y-z');
  });

  it('when the amount is Number.MAX_SAFE_INTEGER, then it is charged exactly', async () => {
    const res = await post(app, '/v1/charges', chargeBody({ amount: Number.MAX_SAFE_INTEGER }));
    expect(res.statusCode).toBe(201);
    expect(res.json<Charge>().amount).toBe(Number.MAX_SAFE_INTEGER);
  });

  it.each([
    ['tok_chargeDeclined', 'CARD_DECLINED'],
    ['tok_chargeDeclinedInsufficientFunds', 'INSUFFICIENT_FUNDS'],
  ])('when %s is charged, then 402 %s carries the failed charge, which the ledger keeps', async (token, code) => {
    const body = chargeBody({ token });
    const res = await post(app, '/v1/charges', body);
    expect(res.statusCode).toBe(402);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const answer = problem(res);
    expect(answer).toMatchObject({ status: 402, code, requestId: res.headers['x-request-id'] });
    const charge = answer['charge'] as Charge;
    expect(charge).toMatchObject({ orderId: body.orderId, amount: 1999, currency: 'EUR', status: 'failed', failureCode: code, refundedAmount: 0 });
    expect(charge.id).toMatch(/^ch_[0-9a-f]{24}$/);
    expect(await chargesOf(app, body.orderId)).toEqual([charge]);
  });

  it('when tok_gatewayError is charged, then 502 GATEWAY_ERROR, nothing is recorded, and a retry with the key runs again', async () => {
    const body = chargeBody({ token: 'tok_gatewayError' });
    const key = newKey();
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await post(app, '/v1/charges', body, key);
      expect(res.statusCode).toBe(502);
      expect(problem(res).code).toBe('GATEWAY_ERROR');
      expect(res.headers['idempotent-replayed']).toBeUndefined();
    }
    expect(await chargesOf(app, body.orderId)).toEqual([]);
    // The key was not kept: the same key with another body is a new request, not a 422.
    expect((await post(app, '/v1/charges', { ...body, token: 'tok_visa' }, key)).statusCode).toBe(201);
  });

  it('when an unknown tok_ token is charged, then 400 INVALID_TOKEN, nothing is recorded, and the answer is kept for the key', async () => {
    const body = chargeBody({ token: 'tok_unknownCard' });
    const key = newKey();
    const first = await post(app, '/v1/charges', body, key);
    expect(first.statusCode).toBe(400);
    expect(problem(first).code).toBe('INVALID_TOKEN');
    expect(await chargesOf(app, body.orderId)).toEqual([]);
    const again = await post(app, '/v1/charges', body, key);
    expect(again.statusCode).toBe(400);
    expect(problem(again).code).toBe('INVALID_TOKEN');
    expect(again.headers['idempotent-replayed']).toBe('true');
  });
});

describe('POST /v1/charges validation', () => {
  it('when the Idempotency-Key header is missing, then 400 IDEMPOTENCY_KEY_MISSING, even before a bad body, and nothing is recorded', async () => {
    const body = chargeBody();
    for (const payload of [body, { ...body, amount: 'lots' }]) {
      const res = await post(app, '/v1/charges', payload, null);
      expect(res.statusCode).toBe(400);
      expect(problem(res).code).toBe('IDEMPOTENCY_KEY_MISSING');
    }
    expect(await chargesOf(app, body.orderId)).toEqual([]);
  });

  it.each([
    ['empty', ''],
    ['with a space', 'a b'],
    ['not ASCII', 'clé'],
    ['256 characters long', 'k'.repeat(256)],
  ])('when the Idempotency-Key is %s, then 400 VALIDATION_FAILED names the header', async (_what, key) => {
    const res = await post(app, '/v1/charges', chargeBody(), key);
    expect(res.statusCode).toBe(400);
    expect(problem(res)).toMatchObject({ code: 'VALIDATION_FAILED', errors: [expect.objectContaining({ path: 'headers/idempotency-key' })] });
  });

  it('when the Idempotency-Key is 255 visible ASCII characters, then it is accepted', async () => {
    const res = await post(app, '/v1/charges', chargeBody(), `!~${'k'.repeat(253)}`);
    expect(res.statusCode).toBe(201);
  });

  it.each([
    ['a fractional amount', { amount: 12.5 }, 'body/amount'],
    ['an amount as a string', { amount: '100' }, 'body/amount'],
    ['a zero amount', { amount: 0 }, 'body/amount'],
    ['an amount past MAX_SAFE_INTEGER', { amount: Number.MAX_SAFE_INTEGER + 1 }, 'body/amount'],
    ['a lower-case currency', { currency: 'eur' }, 'body/currency'],
    ['a four-letter currency', { currency: 'EURO' }, 'body/currency'],
    ['a currency ISO 4217 does not have', { currency: 'XYZ' }, 'body/currency'],
    ['a token without tok_', { token: 'visa' }, 'body/token'],
    ['a token over 64 characters', { token: `tok_${'a'.repeat(61)}` }, 'body/token'],
    ['an orderId that is not a UUID', { orderId: 'order-1' }, 'body/orderId'],
    ['a reference with a space', { reference: 'a b' }, 'body/reference'],
    ['an undeclared property', { status: 'succeeded' }, 'body/status'],
  ])('when the body has %s, then 400 VALIDATION_FAILED at that path and the key stays free', async (_what, over, path) => {
    const orderId = randomUUID();
    const key = newKey();
    const res = await post(app, '/v1/charges', chargeBody({ orderId, ...over }), key);
    expect(res.statusCode).toBe(400);
    expect(problem(res)).toMatchObject({ code: 'VALIDATION_FAILED', errors: expect.arrayContaining([expect.objectContaining({ path })]) });
    expect(await chargesOf(app, orderId)).toEqual([]);
    // Not kept: the corrected request under the same key runs.
    const corrected = await post(app, '/v1/charges', chargeBody({ orderId }), key);
    expect(corrected.statusCode).toBe(201);
    expect(corrected.headers['idempotent-replayed']).toBeUndefined();
    expect(await chargesOf(app, orderId)).toHaveLength(1);
  });

  it('when a required member is missing, then 400 VALIDATION_FAILED names it', async () => {
    const { token: _token, ...body } = chargeBody();
    const res = await post(app, '/v1/charges', body);
    expect(res.statusCode).toBe(400);
    expect(problem(res).errors).toEqual([expect.objectContaining({ path: 'body/token' })]);
  });
});

describe('GET /v1/charges', () => {
  it('when an order has several charges, then they are listed oldest first, and only that order’s', async () => {
    const orderId = randomUUID();
    const ids: string[] = [];
    for (const token of ['tok_chargeDeclined', 'tok_visa', 'tok_mastercard']) {
      const res = await post(app, '/v1/charges', chargeBody({ orderId, token }));
      ids.push(res.statusCode === 201 ? res.json<Charge>().id : (problem(res)['charge'] as Charge).id);
    }
    await post(app, '/v1/charges', chargeBody());
    const listed = await chargesOf(app, orderId);
    expect(listed.map((c) => c.id)).toEqual(ids);
    expect(listed.map((c) => c.status)).toEqual(['failed', 'succeeded', 'succeeded']);
  });

  it('when an order has no charge, then data is empty', async () => {
    expect(await chargesOf(app, randomUUID())).toEqual([]);
  });

  it.each([
    ['without orderId', '/v1/charges'],
    ['with an orderId that is not a UUID', '/v1/charges?orderId=42'],
    ['with an undeclared parameter', `/v1/charges?orderId=${randomUUID()}&status=failed`],
  ])('when the list is asked %s, then 400 VALIDATION_FAILED', async (_what, url) => {
    const res = await get(app, url);
    expect(res.statusCode).toBe(400);
    expect(problem(res).code).toBe('VALIDATION_FAILED');
  });

  it('when a charge id is unknown, whatever its shape, then 404 CHARGE_NOT_FOUND', async () => {
    for (const id of ['ch_000000000000000000000000', 'x'.repeat(200), 'toString']) {
      const res = await get(app, `/v1/charges/${id}`);
      expect(res.statusCode).toBe(404);
      expect(problem(res).code).toBe('CHARGE_NOT_FOUND');
    }
  });
});
