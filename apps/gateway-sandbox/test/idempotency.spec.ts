import type { App } from '@platform/service-kit';
import { build, chargeBody, chargesOf, newKey, post, problem, succeededCharge, withoutRequestId, type Charge } from './helper';

let app: App;
beforeAll(async () => {
  app = await build();
});
afterAll(() => app.close());

describe('Idempotency-Key on POST /v1/charges', () => {
  it('when a charge is sent again with its key and body, then the first 201 is replayed with Idempotent-Replayed and nothing is charged again', async () => {
    const body = chargeBody();
    const key = newKey();
    const first = await post(app, '/v1/charges', body, key);
    expect(first.statusCode).toBe(201);
    // The same members in another order are the same request.
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const again = await post(app, '/v1/charges', reordered, key);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect(await chargesOf(app, body.orderId)).toEqual([first.json()]);
  });

  it('when a declined charge is sent again with its key, then the same 402 is replayed and one failed charge stays recorded', async () => {
    const body = chargeBody({ token: 'tok_chargeDeclined' });
    const key = newKey();
    const first = await post(app, '/v1/charges', body, key);
    const again = await post(app, '/v1/charges', body, key);
    expect(again.statusCode).toBe(402);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(withoutRequestId(again)).toEqual(withoutRequestId(first));
    expect(problem(again).requestId).toBe(again.headers['x-request-id']);
    expect(await chargesOf(app, body.orderId)).toHaveLength(1);
  });

  it('when a key is reused with another body, then 422 IDEMPOTENCY_KEY_REUSED and nothing more is charged', async () => {
    const body = chargeBody();
    const key = newKey();
    await post(app, '/v1/charges', body, key);
    const res = await post(app, '/v1/charges', { ...body, amount: body.amount + 1 }, key);
    expect(res.statusCode).toBe(422);
    expect(problem(res).code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await chargesOf(app, body.orderId)).toHaveLength(1);
  });

  it('when 50 identical requests with one key arrive at once, then exactly one charge is made and all 50 answer it', async () => {
    const body = chargeBody();
    const key = newKey();
    const answers = await Promise.all(Array.from({ length: 50 }, () => post(app, '/v1/charges', body, key)));
    expect(answers.map((r) => r.statusCode)).toEqual(Array(50).fill(201));
    const charges = await chargesOf(app, body.orderId);
    expect(charges).toHaveLength(1);
    expect(new Set(answers.map((r) => r.json<Charge>().id))).toEqual(new Set([charges[0]?.id]));
    expect(answers.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(49);
  });

  it('when a charge is replayed after a refund, then the replay is the first answer, not the charge as it is now', async () => {
    const body = chargeBody({ amount: 500 });
    const key = newKey();
    const first = await post(app, '/v1/charges', body, key);
    await post(app, '/v1/refunds', { chargeId: first.json<Charge>().id, amount: 200 });
    const again = await post(app, '/v1/charges', body, key);
    expect(again.json()).toEqual(first.json());
    expect(again.json<Charge>().refundedAmount).toBe(0);
  });

  it('when the same key is used on /v1/charges and /v1/refunds, then each route keeps its own answer', async () => {
    const key = newKey();
    const charge = await post(app, '/v1/charges', chargeBody(), key);
    const refund = await post(app, '/v1/refunds', { chargeId: charge.json<Charge>().id }, key);
    expect(refund.statusCode).toBe(201);
    expect(refund.headers['idempotent-replayed']).toBeUndefined();
  });
});

describe('Idempotency-Key on POST /v1/refunds', () => {
  it('when a refund is sent again with its key, then the 201 is replayed and the money is refunded once', async () => {
    const charge = await succeededCharge(app, 1000);
    const key = newKey();
    const first = await post(app, '/v1/refunds', { chargeId: charge.id, amount: 300 }, key);
    const again = await post(app, '/v1/refunds', { chargeId: charge.id, amount: 300 }, key);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect((await chargesOf(app, charge.orderId))[0]).toMatchObject({ refundedAmount: 300, refunds: [first.json()] });
  });

  it('when a refund key is reused with another amount, then 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const charge = await succeededCharge(app, 1000);
    const key = newKey();
    await post(app, '/v1/refunds', { chargeId: charge.id, amount: 300 }, key);
    const res = await post(app, '/v1/refunds', { chargeId: charge.id, amount: 400 }, key);
    expect(res.statusCode).toBe(422);
    expect(problem(res).code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await chargesOf(app, charge.orderId))[0]?.refundedAmount).toBe(300);
  });

  it('when 20 identical refunds with one key arrive at once, then the charge is refunded once', async () => {
    const charge = await succeededCharge(app, 1000);
    const key = newKey();
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(app, '/v1/refunds', { chargeId: charge.id, amount: 100 }, key)));
    expect(answers.map((r) => r.statusCode)).toEqual(Array(20).fill(201));
    expect((await chargesOf(app, charge.orderId))[0]).toMatchObject({ refundedAmount: 100, refunds: [answers[0]?.json()] });
  });
});
