import type { App } from '@platform/service-kit';
import { build, chargeBody, get, newKey, post, problem, succeededCharge, type Charge, type Refund } from './helper';

let app: App;
beforeAll(async () => {
  app = await build();
});
afterAll(() => app.close());

const refund = (payload: object, key?: string) => post(app, '/v1/refunds', payload, key);
const chargeNow = async (id: string) => (await get(app, `/v1/charges/${id}`)).json<Charge>();

describe('POST /v1/refunds', () => {
  it('when part of a charge is refunded, then 201 refund, and the charge shows it in refundedAmount and refunds', async () => {
    const charge = await succeededCharge(app, 1000);
    const res = await refund({ chargeId: charge.id, amount: 300, reference: 'rf-1' });
    expect(res.statusCode).toBe(201);
    const made = res.json<Refund>();
    expect(made).toEqual({ id: expect.stringMatching(/^re_[0-9a-f]{24}$/), chargeId: charge.id, amount: 300, reference: 'rf-1', createdAt: expect.any(String) });
    expect(await chargeNow(charge.id)).toEqual({ ...charge, refundedAmount: 300, refunds: [made] });
  });

  it('when partial refunds follow each other, then refundedAmount is their sum and a refund without amount takes the rest', async () => {
    const charge = await succeededCharge(app, 1000);
    expect((await refund({ chargeId: charge.id, amount: 250 })).statusCode).toBe(201);
    expect((await refund({ chargeId: charge.id, amount: 150 })).statusCode).toBe(201);
    expect((await chargeNow(charge.id)).refundedAmount).toBe(400);
    const rest = await refund({ chargeId: charge.id });
    expect(rest.statusCode).toBe(201);
    expect(rest.json<Refund>()).toMatchObject({ amount: 600, reference: null });
    const after = await chargeNow(charge.id);
    expect(after.refundedAmount).toBe(1000);
    expect(after.refunds.map((r) => r.amount)).toEqual([250, 150, 600]);
  });

  it('when a refund asks more than is left, then 409 REFUND_EXCEEDS_CHARGE and nothing is refunded; exactly what is left is accepted', async () => {
    const charge = await succeededCharge(app, 1000);
    await refund({ chargeId: charge.id, amount: 400 });
    const res = await refund({ chargeId: charge.id, amount: 601 });
    expect(res.statusCode).toBe(409);
    expect(problem(res)).toMatchObject({ code: 'REFUND_EXCEEDS_CHARGE', refundable: 600 });
    expect((await chargeNow(charge.id)).refundedAmount).toBe(400);
    expect((await refund({ chargeId: charge.id, amount: 600 })).statusCode).toBe(201);
    expect((await chargeNow(charge.id)).refundedAmount).toBe(1000);
  });

  it('when a charge is already refunded in full, then 409 CHARGE_NOT_REFUNDABLE, with or without an amount', async () => {
    const charge = await succeededCharge(app, 1000);
    expect((await refund({ chargeId: charge.id })).json<Refund>().amount).toBe(1000);
    for (const payload of [{ chargeId: charge.id }, { chargeId: charge.id, amount: 1 }]) {
      const res = await refund(payload);
      expect(res.statusCode).toBe(409);
      expect(problem(res).code).toBe('CHARGE_NOT_REFUNDABLE');
    }
    expect((await chargeNow(charge.id)).refunds).toHaveLength(1);
  });

  it('when the charge failed, then 409 CHARGE_NOT_REFUNDABLE', async () => {
    const declined = await post(app, '/v1/charges', chargeBody({ token: 'tok_chargeDeclined' }));
    const failed = problem(declined)['charge'] as Charge;
    const res = await refund({ chargeId: failed.id, amount: 1 });
    expect(res.statusCode).toBe(409);
    expect(problem(res).code).toBe('CHARGE_NOT_REFUNDABLE');
    expect((await chargeNow(failed.id)).refundedAmount).toBe(0);
  });

  it('when the charge does not exist, then 404 CHARGE_NOT_FOUND, kept for the key', async () => {
    const key = newKey();
    const res = await refund({ chargeId: 'ch_nothing' }, key);
    expect(res.statusCode).toBe(404);
    expect(problem(res).code).toBe('CHARGE_NOT_FOUND');
    const again = await refund({ chargeId: 'ch_nothing' }, key);
    expect(again.statusCode).toBe(404);
    expect(again.headers['idempotent-replayed']).toBe('true');
  });

  it('when the Idempotency-Key header is missing, then 400 IDEMPOTENCY_KEY_MISSING and nothing is refunded', async () => {
    const charge = await succeededCharge(app, 1000);
    const res = await post(app, '/v1/refunds', { chargeId: charge.id }, null);
    expect(res.statusCode).toBe(400);
    expect(problem(res).code).toBe('IDEMPOTENCY_KEY_MISSING');
    expect((await chargeNow(charge.id)).refundedAmount).toBe(0);
  });

  it.each([
    ['a zero amount', { amount: 0 }],
    ['a fractional amount', { amount: 1.5 }],
    ['an amount as a string', { amount: '100' }],
    ['an undeclared property', { currency: 'EUR' }],
    ['a reference with a slash', { reference: 'a/b' }],
  ])('when the body has %s, then 400 VALIDATION_FAILED and nothing is refunded', async (_what, over) => {
    const charge = await succeededCharge(app, 1000);
    const res = await refund({ chargeId: charge.id, ...over });
    expect(res.statusCode).toBe(400);
    expect(problem(res).code).toBe('VALIDATION_FAILED');
    expect((await chargeNow(charge.id)).refundedAmount).toBe(0);
  });
});
