import { randomUUID } from 'node:crypto';
import { ITEMS, ITEMS_TOTAL, type Answer } from '../src/client';
import { topologyFromEnv, type ServiceName } from '../src/platform';
import { expectProblem, signedUp as signUpOn, type Caller } from '../src/expect';

/**
 * CONTRACT.md, Idempotency keys, on the three routes that honour them, across instances:
 * a replay may land on any instance, and the work is counted where an outside client can
 * see it (the user's orders, the sandbox provider's ledger).
 */
const topology = topologyFromEnv();
const signedUp = () => signUpOn(topology);



const replayed = (res: Answer) => res.headers.get('idempotent-replayed');

/** The same answer again: status, body byte for byte, and the headers a client reads. */
function expectReplayOf(again: Answer, first: Answer): void {
  expect([again.status, replayed(again), again.text]).toEqual([first.status, 'true', first.text]);
  expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
  expect(again.headers.get('location')).toBe(first.headers.get('location'));
}

/** Every instance of the service but `i`, or `i` itself when there is only one. */
const othersThan = (service: ServiceName, i: number) => {
  const all = topology[service].map((_, j) => j).filter((j) => j !== i);
  return all.length > 0 ? all : [i];
};

type Body = 'first' | 'other' | 'invalid';

/** One route that honours Idempotency-Key, seen from outside. */
interface Route<Ctx> {
  name: string;
  service: ServiceName;
  /** What the request needs to exist first: an order to pay, a payment to refund. */
  prepare(c: Caller): Promise<Ctx>;
  send(c: Caller, ctx: Ctx, key: string, body: Body, instance?: number): Promise<Answer>;
  /** How much of the work has been done, as an outside client can count it. */
  done(c: Caller, ctx: Ctx): Promise<number>;
  /** `done` after the request ran once. */
  once: number;
  /** Whether a 201 answer is this caller's own result. */
  isOwn(c: Caller, ctx: Ctx, res: Answer): boolean;
}

const withKey = (key: string) => ({ 'idempotency-key': key });

const orders: Route<Record<string, never>> = {
  name: 'POST /v1/orders',
  service: 'order',
  prepare: async () => ({}),
  send: ({ client, token }, _ctx, key, body, instance) => {
    const items = { first: ITEMS, other: ITEMS.slice(0, 1).map((item) => ({ ...item, quantity: 3 })), invalid: [] }[body];
    return client.createOrder(token, items, key, { instance });
  },
  done: async ({ client, token }) => ((await client.api(token).order.GET('/v1/orders', { params: { query: { limit: 100 } } })).data?.data.length ?? -1),
  once: 1,
  isOwn: ({ user }, _ctx, res) => res.body?.userId === user.id,
};

const payments: Route<{ orderId: string }> = {
  name: 'POST /v1/payments',
  service: 'payment',
  prepare: async ({ client, token }) => ({ orderId: await client.newOrder(token) }),
  send: ({ client, token }, { orderId }, key, body, instance) => {
    if (body !== 'invalid') return client.pay(token, orderId, key, body === 'first' ? 'tok_visa' : 'tok_mastercard', { instance });
    const paymentMethod = { type: 'paypal', token: 'tok_visa' };
    return client.request('payment', 'POST', '/v1/payments', { token, body: { orderId, paymentMethod }, headers: withKey(key), instance });
  },
  done: async ({ client }, { orderId }) => (await client.charges(orderId)).length,
  once: 1,
  isOwn: ({ user }, { orderId }, res) => res.body?.orderId === orderId && res.body?.userId === user.id,
};

const refunds: Route<{ orderId: string; paymentId: string }> = {
  name: 'POST /v1/payments/{id}/refunds',
  service: 'payment',
  prepare: async ({ client, token }) => {
    const orderId = await client.newOrder(token);
    const paid = await client.pay(token, orderId);
    if (paid.status !== 201) throw new Error(`pay answered ${paid.status}: ${paid.text}`);
    return { orderId, paymentId: paid.body.id };
  },
  send: ({ client, token }, { paymentId }, key, body, instance) => {
    const amount = { first: 500, other: 600, invalid: 0 }[body];
    return client.refund(token, paymentId, amount, key, { instance });
  },
  done: async ({ client }, { orderId }) => (await client.charges(orderId))[0]?.refundedAmount ?? -1,
  once: 500,
  isOwn: (_c, { paymentId }, res) => res.body?.paymentId === paymentId,
};

describe.each([orders, payments, refunds] as Route<object>[])('Idempotency-Key on $name', (route) => {
  it('when the same key and body come again on the other instances, then the first status and body come back with Idempotent-Replayed: true and the work is done once', async () => {
    const c = await signedUp();
    const ctx = await route.prepare(c);
    const key = randomUUID();
    const first = await route.send(c, ctx, key, 'first', 0);
    expect([first.status, replayed(first)]).toEqual([201, null]);
    expect(route.isOwn(c, ctx, first)).toBe(true);
    for (const i of othersThan(route.service, 0)) expectReplayOf(await route.send(c, ctx, key, 'first', i), first);
    expect(await route.done(c, ctx)).toBe(route.once);
  });

  it('when the same key comes with another body, then 422 IDEMPOTENCY_KEY_REUSED and nothing more is done', async () => {
    const c = await signedUp();
    const ctx = await route.prepare(c);
    const key = randomUUID();
    expect((await route.send(c, ctx, key, 'first', 0)).status).toBe(201);
    for (const i of othersThan(route.service, 0)) expectProblem(await route.send(c, ctx, key, 'other', i), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await route.done(c, ctx)).toBe(route.once);
  });

  it('when another user sends the same key, then it is their own key: they get a result of their own, not a replay', async () => {
    const [a, b] = [await signedUp(), await signedUp()];
    const [ctxA, ctxB] = [await route.prepare(a), await route.prepare(b)];
    const key = randomUUID();
    const first = await route.send(a, ctxA, key, 'first', 0);
    const theirs = await route.send(b, ctxB, key, 'first', 0);
    expect([first.status, theirs.status, replayed(theirs)]).toEqual([201, 201, null]);
    expect(route.isOwn(b, ctxB, theirs)).toBe(true);
    expect(theirs.body.id).not.toBe(first.body.id);
    expect([await route.done(a, ctxA), await route.done(b, ctxB)]).toEqual([route.once, route.once]);
  });

  it.each([
    ['is empty', ''],
    ['is 256 characters long', 'k'.repeat(256)],
    ['has a space', 'has space'],
    ['has a tab', 'has\ttab'],
    ['has a non-ASCII letter', 'café'],
  ])('when the key %s, then 400 VALIDATION_FAILED and nothing is done', async (_case, key) => {
    const c = await signedUp();
    const ctx = await route.prepare(c);
    const done = await route.done(c, ctx);
    const res = await route.send(c, ctx, key, 'first');
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['headers/idempotency-key']);
    expect(await route.done(c, ctx)).toBe(done);
  });

  it('when the key is 255 visible ASCII characters, then it is accepted and replays', async () => {
    const c = await signedUp();
    const ctx = await route.prepare(c);
    const visible = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).join('');
    const key = visible.repeat(3).slice(0, 255);
    const first = await route.send(c, ctx, key, 'first');
    expect([first.status, replayed(first)]).toEqual([201, null]);
    expectReplayOf(await route.send(c, ctx, key, 'first'), first);
    expect(await route.done(c, ctx)).toBe(route.once);
  });

  it('when 20 requests with one key arrive at once across every instance, then one runs, the others are its replay or 409 IDEMPOTENCY_REQUEST_IN_PROGRESS with Retry-After, and the work is done once', async () => {
    const c = await signedUp();
    const ctx = await route.prepare(c);
    const key = randomUUID();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => route.send(c, ctx, key, 'first', i)));
    const ran = answers.filter((r) => r.status === 201 && replayed(r) === null);
    expect(ran).toHaveLength(1);
    const first = ran[0] as Answer;
    expect(route.isOwn(c, ctx, first)).toBe(true);
    for (const r of answers.filter((a) => a !== first)) {
      if (r.status === 201) expectReplayOf(r, first);
      else {
        expectProblem(r, 409, 'IDEMPOTENCY_REQUEST_IN_PROGRESS');
        expect(r.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
      }
    }
    expectReplayOf(await route.send(c, ctx, key, 'first'), first);
    expect(await route.done(c, ctx)).toBe(route.once);
  });

  it('when a body refused by validation is fixed and sent again with the same key, then the key was not kept and the fixed request runs', async () => {
    const c = await signedUp();
    const ctx = await route.prepare(c);
    const key = randomUUID();
    const before = await route.done(c, ctx);
    expectProblem(await route.send(c, ctx, key, 'invalid', 0), 400, 'VALIDATION_FAILED');
    expect(await route.done(c, ctx)).toBe(before);
    const fixed = await route.send(c, ctx, key, 'first', 1);
    expect([fixed.status, replayed(fixed)]).toEqual([201, null]);
    expect(route.isOwn(c, ctx, fixed)).toBe(true);
    expect(await route.done(c, ctx)).toBe(route.once);
  });
});

describe('Idempotency-Key on the payment routes', () => {
  it('when a declined payment’s key and body come again on another instance, then the 402 is replayed and the card is not charged again', async () => {
    const c = await signedUp();
    const orderId = await c.client.newOrder(c.token);
    const key = randomUUID();
    const first = await c.client.pay(c.token, orderId, key, 'tok_chargeDeclined', { instance: 0 });
    expectProblem(first, 402, 'CARD_DECLINED');
    expect(replayed(first)).toBeNull();
    for (const i of othersThan('payment', 0)) expectReplayOf(await c.client.pay(c.token, orderId, key, 'tok_chargeDeclined', { instance: i }), first);
    expect((await c.client.charges(orderId)).map((ch) => ch.status)).toEqual(['failed']);
  });

  it('when the provider failed (502), then the answer is not kept: the key runs again, even with another body', async () => {
    const c = await signedUp();
    const orderId = await c.client.newOrder(c.token);
    const key = randomUUID();
    expectProblem(await c.client.pay(c.token, orderId, key, 'tok_gatewayError', { instance: 0 }), 502, 'GATEWAY_ERROR');
    const again = await c.client.pay(c.token, orderId, key, 'tok_gatewayError', { instance: 1 });
    expect([again.status, replayed(again)]).toEqual([502, null]);
    const paid = await c.client.pay(c.token, orderId, key, 'tok_visa', { instance: 2 });
    expect([paid.status, replayed(paid), paid.body.status]).toEqual([201, null, 'SUCCEEDED']);
    expect((await c.client.charges(orderId)).map((ch) => ch.status)).toEqual(['succeeded']);
  });

  it('when another user replays the exact request with the same key, then they get the 404 of someone else’s resource, never the owner’s answer', async () => {
    const [owner, other] = [await signedUp(), await signedUp()];
    const orderId = await owner.client.newOrder(owner.token);
    const key = randomUUID();
    const paid = await owner.client.pay(owner.token, orderId, key);
    expect(paid.status).toBe(201);
    const stolenPay = await other.client.pay(other.token, orderId, key);
    expectProblem(stolenPay, 404, 'NOT_FOUND');
    expect(replayed(stolenPay)).toBeNull();
    const refundKey = randomUUID();
    const refund = (c: Caller) => c.client.refund(c.token, paid.body.id, 100, refundKey);
    expect((await refund(owner)).status).toBe(201);
    const stolenRefund = await refund(other);
    expectProblem(stolenRefund, 404, 'NOT_FOUND');
    expect(replayed(stolenRefund)).toBeNull();
    expect(await owner.client.charges(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amount: ITEMS_TOTAL, refundedAmount: 100 })]);
  });

  it('when one key is used to pay and then to refund, then each route has its own key: both run', async () => {
    const c = await signedUp();
    const orderId = await c.client.newOrder(c.token);
    const key = randomUUID();
    const paid = await c.client.pay(c.token, orderId, key);
    expect([paid.status, replayed(paid)]).toEqual([201, null]);
    const refunded = await c.client.refund(c.token, paid.body.id, undefined, key);
    expect([refunded.status, replayed(refunded), refunded.body.amount]).toEqual([201, null, ITEMS_TOTAL]);
    expect(await c.client.charges(orderId)).toEqual([expect.objectContaining({ refundedAmount: ITEMS_TOTAL })]);
  });
});
