import type { App } from '@platform/service-kit';
import { randomUUID } from 'node:crypto';
import { build, chargeBody, chargesOf, newKey, post, problem, type Charge } from './helper';

/** Each failure is before or after the work at even odds: 40 attempts all alike would be a 1 in 2^39 chance. */
const ATTEMPTS = 40;

let app: App;
beforeAll(async () => {
  app = await build({ GATEWAY_FAILURE_RATE: '1' });
});
afterAll(() => app.close());

describe('GATEWAY_FAILURE_RATE=1', () => {
  it('when every charge fails with 500, then some were recorded (after) and some not (before), and a retry of an "after" one replays its 201', async () => {
    const attempts: { key: string; body: ReturnType<typeof chargeBody>; recorded: Charge[] }[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      const body = chargeBody();
      const key = newKey();
      const res = await post(app, '/v1/charges', body, key);
      expect(res.statusCode).toBe(500);
      expect(problem(res).code).toBe('GATEWAY_ERROR');
      attempts.push({ key, body, recorded: await chargesOf(app, body.orderId) });
    }
    const after = attempts.filter((a) => a.recorded.length === 1);
    const before = attempts.filter((a) => a.recorded.length === 0);
    expect(after.length).toBeGreaterThan(0);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length + before.length).toBe(ATTEMPTS);

    for (const { key, body, recorded } of after) {
      const retry = await post(app, '/v1/charges', body, key);
      expect(retry.statusCode).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.json()).toEqual(recorded[0]);
      expect(await chargesOf(app, body.orderId)).toHaveLength(1);
    }
  });

  it('when every refund fails with 500, then some moved money and a retry of those replays the 201 without refunding twice', async () => {
    const charge = await recordedCharge();
    const afterKeys: string[] = [];
    let refunded = 0;
    for (let i = 0; i < ATTEMPTS; i++) {
      const key = newKey();
      const res = await post(app, '/v1/refunds', { chargeId: charge.id, amount: 1 }, key);
      expect(res.statusCode).toBe(500);
      const now = (await chargesOf(app, charge.orderId))[0] as Charge;
      if (now.refundedAmount > refunded) afterKeys.push(key);
      refunded = now.refundedAmount;
    }
    expect(afterKeys.length).toBeGreaterThan(0);
    expect(afterKeys.length).toBeLessThan(ATTEMPTS);
    for (const key of afterKeys) {
      const retry = await post(app, '/v1/refunds', { chargeId: charge.id, amount: 1 }, key);
      expect(retry.statusCode).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBe('true');
    }
    const final = (await chargesOf(app, charge.orderId))[0] as Charge;
    expect(final.refundedAmount).toBe(afterKeys.length);
    expect(final.refunds).toHaveLength(afterKeys.length);
  });
});

/** A succeeded charge, got through the failures: retried with one key until one was recorded. */
async function recordedCharge(): Promise<Charge> {
  const body = chargeBody({ orderId: randomUUID(), amount: 1000 });
  for (let i = 0; i < ATTEMPTS; i++) {
    await post(app, '/v1/charges', body, newKey());
    const [charge] = await chargesOf(app, body.orderId);
    if (charge) return charge;
  }
  throw new Error('no charge was recorded');
}
