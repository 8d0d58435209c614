import type { App } from '@platform/service-kit';
import { build, chargeBody, chargesOf, get, newKey, post, succeededCharge, type Charge } from './helper';

const LATENCY_MS = 200;

let app: App;
beforeAll(async () => {
  app = await build({ GATEWAY_LATENCY_MS: String(LATENCY_MS) });
});
afterAll(() => app.close());

/** Resolves to what settled first. */
const first = (...racers: Promise<string>[]) => Promise.race(racers);
const tagged = <T>(promise: Promise<T>, tag: string) => promise.then(() => tag);

describe('GATEWAY_LATENCY_MS', () => {
  it('when a charge is in flight, then a GET answers before it without seeing it, and sees it once the charge has answered', async () => {
    const body = chargeBody();
    const started = Date.now();
    const charging = post(app, '/v1/charges', body);
    const listing = chargesOf(app, body.orderId);
    expect(await first(tagged(charging, 'charge'), tagged(listing, 'list'))).toBe('list');
    expect(await listing).toEqual([]);
    const res = await charging;
    expect(Date.now() - started).toBeGreaterThanOrEqual(LATENCY_MS - 5);
    expect(res.statusCode).toBe(201);
    expect(await chargesOf(app, body.orderId)).toEqual([res.json()]);
  });

  it('when a refund is in flight, then the charge read meanwhile is not yet refunded', async () => {
    const charge = await succeededCharge(app, 1000);
    const refunding = post(app, '/v1/refunds', { chargeId: charge.id, amount: 100 });
    const reading = get(app, `/v1/charges/${charge.id}`);
    expect(await first(tagged(refunding, 'refund'), tagged(reading, 'read'))).toBe('read');
    expect((await reading).json<Charge>().refundedAmount).toBe(0);
    expect((await refunding).statusCode).toBe(201);
    expect((await get(app, `/v1/charges/${charge.id}`)).json<Charge>().refundedAmount).toBe(100);
  });

  it('when a retry with the key arrives while the first request is still in flight, then it waits for that answer instead of charging again', async () => {
    const body = chargeBody();
    const key = newKey();
    const original = post(app, '/v1/charges', body, key);
    await new Promise((r) => setTimeout(r, LATENCY_MS / 2));
    const retry = await post(app, '/v1/charges', body, key);
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json()).toEqual((await original).json());
    expect(await chargesOf(app, body.orderId)).toHaveLength(1);
  });

  it('when 50 identical requests with one key arrive together and the first is still in flight, then one charge is made and the other 49 replay it', async () => {
    const body = chargeBody();
    const key = newKey();
    const answers = await Promise.all(Array.from({ length: 50 }, () => post(app, '/v1/charges', body, key)));
    expect(answers.map((r) => r.statusCode)).toEqual(Array(50).fill(201));
    const charges = await chargesOf(app, body.orderId);
    expect(charges).toHaveLength(1);
    expect(answers.every((r) => r.json<Charge>().id === charges[0]?.id)).toBe(true);
    expect(answers.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(49);
  });
});

describe('POST /v1/charges/cancel', () => {
  it('when no charge ran with the key, then 409 CHARGE_CANCELLED, and a charge sent with that key later gets the same and charges nothing', async () => {
    const key = newKey();
    const body = chargeBody();
    const cancel = await post(app, '/v1/charges/cancel', {}, key);
    expect([cancel.statusCode, cancel.json<{ code: string }>().code]).toEqual([409, 'CHARGE_CANCELLED']);
    const late = await post(app, '/v1/charges', body, key);
    expect([late.statusCode, late.json<{ code: string }>().code]).toEqual([409, 'CHARGE_CANCELLED']);
    expect(await chargesOf(app, body.orderId)).toEqual([]);
  });

  it('when the charge with the key is still in flight, then the cancel waits for it and answers the charge: the outcome is final either way', async () => {
    const key = newKey();
    const body = chargeBody();
    const charging = post(app, '/v1/charges', body, key);
    // Sent while the charge is still running (the sandbox's latency), when a GET does not see it yet.
    expect(await chargesOf(app, body.orderId)).toEqual([]);
    const cancel = await post(app, '/v1/charges/cancel', {}, key);
    const charged = await charging;
    expect(charged.statusCode).toBe(201);
    expect(cancel.statusCode).toBe(201);
    expect(cancel.headers['idempotent-replayed']).toBe('true');
    expect(cancel.json()).toEqual(charged.json());
    expect(await chargesOf(app, body.orderId)).toHaveLength(1);
  });

  it('when the charge with the key was declined, then the cancel answers the decline', async () => {
    const key = newKey();
    const declined = await post(app, '/v1/charges', chargeBody({ token: 'tok_chargeDeclined' }), key);
    expect(declined.statusCode).toBe(402);
    const cancel = await post(app, '/v1/charges/cancel', {}, key);
    expect([cancel.statusCode, cancel.json<{ code: string }>().code]).toEqual([402, 'CARD_DECLINED']);
  });
});
