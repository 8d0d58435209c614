import { randomUUID } from 'node:crypto';
import { eventually, ITEMS_TOTAL, type Answer } from '../src/client';
import { topologyFromEnv } from '../src/platform';
import { signedUp as signUpOn, type Caller } from '../src/expect';

/**
 * OWASP API1 (broken object level authorisation): another user's ids on every :id route
 * answer exactly as ids that do not exist, and change nothing for the owner. Then caching
 * across instances (CONTRACT.md, Caching): no instance serves an order older than the last
 * answered write or processed event.
 */
const topology = topologyFromEnv();
const signedUp = () => signUpOn(topology);


/** The problem without its request id: what must be the same for someone else's id and a missing one. */
const problemOf = (res: Answer) => ({ status: res.status, contentType: res.headers.get('content-type'), body: { ...res.body, requestId: undefined } });

/** `theirs` answers exactly as `missing`: 404 NOT_FOUND, the same problem. */
function expectSameNotFound(theirs: Answer, missing: Answer): void {
  expect([theirs.status, theirs.body?.code]).toEqual([404, 'NOT_FOUND']);
  expect(problemOf(theirs)).toEqual(problemOf(missing));
}

const readOrder = (c: Caller, id: string, instance?: number) => c.client.getOrder(c.token, id, { instance });
const readEverywhere = (c: Caller, id: string) => c.client.onEvery('order', c.token, (api) => api.order.GET('/v1/orders/{id}', { params: { path: { id } } }));
const readPayment = (c: Caller, id: string) => c.client.answer(c.client.api(c.token).payment.GET('/v1/payments/{id}', { params: { path: { id } } }));
const paymentsOf = (c: Caller, orderId: string) => c.client.answer(c.client.api(c.token).payment.GET('/v1/payments', { params: { query: { orderId } } }));
const statusEverywhere = async (c: Caller, id: string) => (await readEverywhere(c, id)).map((r) => [r.status, r.body?.status]);
const everywhereIs = (status: string) => topology.order.map(() => [200, status]);

/** The owner's order, paid with tok_visa and seen PAID: the order id and the payment. */
async function paidOrder(c: Caller) {
  const orderId = await c.client.newOrder(c.token);
  const paid = await c.client.pay(c.token, orderId);
  expect(paid.status).toBe(201);
  expect(await eventually(async () => (await readOrder(c, orderId)).body?.status === 'PAID', 10_000, 100)).toBe(true);
  return { orderId, payment: paid.body };
}

describe('another user’s ids (BOLA)', () => {
  it('when another user reads an order, cached on every instance or not, then 404 exactly as for an order that does not exist', async () => {
    const [owner, other] = [await signedUp(), await signedUp()];
    const orderId = await owner.client.newOrder(owner.token);
    const missing = await readOrder(other, randomUUID());
    expectSameNotFound(await readOrder(other, orderId), missing);
    expect(await statusEverywhere(owner, orderId)).toEqual(everywhereIs('PENDING'));
    for (const theirs of await readEverywhere(other, orderId)) expectSameNotFound(theirs, missing);
  });

  it('when another user cancels an order, then 404 exactly as for one that does not exist, and it stays PENDING for the owner', async () => {
    const [owner, other] = [await signedUp(), await signedUp()];
    const orderId = await owner.client.newOrder(owner.token);
    const cancel = (id: string) => other.client.cancel(other.token, id);
    expectSameNotFound(await cancel(orderId), await cancel(randomUUID()));
    expect(await statusEverywhere(owner, orderId)).toEqual(everywhereIs('PENDING'));
  });

  it('when another user lists orders, even with the owner’s cursor, then none of the owner’s orders appear', async () => {
    const [owner, other] = [await signedUp(), await signedUp()];
    const ownerIds = [await owner.client.newOrder(owner.token), await owner.client.newOrder(owner.token)];
    const own = await other.client.newOrder(other.token);
    const list = await other.client.request('order', 'GET', '/v1/orders', { token: other.token });
    expect(list.body.data.map((o: { id: string }) => o.id)).toEqual([own]);
    const page = (c: Caller, cursor?: string) => c.client.answer(c.client.api(c.token).order.GET('/v1/orders', { params: { query: { limit: 1, cursor } } }));
    const cursor = (await page(owner)).body.nextCursor;
    const withTheirCursor = await page(other, cursor);
    expect([withTheirCursor.status, withTheirCursor.body?.code]).toEqual([400, 'VALIDATION_FAILED']);
    for (const id of ownerIds) expect(withTheirCursor.text).not.toContain(id);
  });

  it('when another user pays an order, then 404 exactly as for an order that does not exist, nothing is charged, and the owner can still pay it', async () => {
    const [owner, other] = [await signedUp(), await signedUp()];
    const orderId = await owner.client.newOrder(owner.token);
    expectSameNotFound(await other.client.pay(other.token, orderId), await other.client.pay(other.token, randomUUID()));
    expect(await other.client.charges(orderId)).toEqual([]);
    expect(await statusEverywhere(owner, orderId)).toEqual(everywhereIs('PENDING'));
    expect((await paymentsOf(owner, orderId)).body).toEqual({ data: [] });
    expect((await owner.client.pay(owner.token, orderId)).status).toBe(201);
  });

  it('when another user reads a payment or lists an order’s payments, then 404 as for a missing payment, and an empty list as for an order without any', async () => {
    const [owner, other] = [await signedUp(), await signedUp()];
    const { orderId, payment } = await paidOrder(owner);
    expectSameNotFound(await readPayment(other, payment.id), await readPayment(other, randomUUID()));
    const list = (id: string) => paymentsOf(other, id);
    const [theirs, none] = [await list(orderId), await list(randomUUID())];
    expect([theirs.status, theirs.body]).toEqual([200, { data: [] }]);
    expect([none.status, none.body]).toEqual([200, { data: [] }]);
    expect((await paymentsOf(owner, orderId)).body).toEqual({ data: [payment] });
  });

  it('when another user refunds a payment, then 404 exactly as for a missing payment, and nothing is refunded', async () => {
    const [owner, other] = [await signedUp(), await signedUp()];
    const { orderId, payment } = await paidOrder(owner);
    const refund = (id: string, amount?: number) => other.client.refund(other.token, id, amount);
    expectSameNotFound(await refund(payment.id), await refund(randomUUID()));
    expectSameNotFound(await refund(payment.id, 1), await refund(randomUUID(), 1));
    expect((await readPayment(owner, payment.id)).body).toEqual(payment);
    expect(await owner.client.charges(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amount: ITEMS_TOTAL, refundedAmount: 0 })]);
    expect(await statusEverywhere(owner, orderId)).toEqual(everywhereIs('PAID'));
  });
});

describe('caching across instances', () => {
  it.each(topology.order.map((_, i) => [i]))(
    'when an order cached on every instance is cancelled on instance %i, then every instance answers CANCELLED at once',
    async (canceller) => {
      const c = await signedUp();
      const orderId = await c.client.newOrder(c.token);
      for (let read = 0; read < 2; read++) expect(await statusEverywhere(c, orderId)).toEqual(everywhereIs('PENDING'));
      const cancelled = await c.client.cancel(c.token, orderId, { instance: canceller });
      expect([cancelled.status, cancelled.body.status]).toEqual([200, 'CANCELLED']);
      for (const res of await readEverywhere(c, orderId)) expect([res.status, res.body]).toEqual([200, cancelled.body]);
    },
  );

  it('when an order cached on every instance is paid and then refunded, then once one instance shows the change, every instance does', async () => {
    const c = await signedUp();
    const orderId = await c.client.newOrder(c.token);
    expect(await statusEverywhere(c, orderId)).toEqual(everywhereIs('PENDING'));
    const paid = await c.client.pay(c.token, orderId);
    expect(paid.status).toBe(201);
    // Polled on each instance in turn: the first PAID means the event has been processed.
    expect(await eventually(async () => (await readOrder(c, orderId)).body?.status === 'PAID', 10_000, 100)).toBe(true);
    expect(await statusEverywhere(c, orderId)).toEqual(everywhereIs('PAID'));

    const refunded = await c.client.refund(c.token, paid.body.id);
    expect(refunded.status).toBe(201);
    expect(await eventually(async () => (await readOrder(c, orderId)).body?.status === 'REFUNDED', 10_000, 100)).toBe(true);
    expect(await statusEverywhere(c, orderId)).toEqual(everywhereIs('REFUNDED'));
    expect(await statusEverywhere(c, orderId)).toEqual(everywhereIs('REFUNDED'));
  });
});
