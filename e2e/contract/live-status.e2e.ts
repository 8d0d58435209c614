import type { EventStreamReader } from '@platform/testing';
import { eventually } from '../src/client';
import { expectProblem, signedUp as signUpOn, type Caller } from '../src/expect';
import { topologyFromEnv } from '../src/platform';

/**
 * CONTRACT.md, Orders, "Live status": GET /v1/orders/{id}/events over real HTTP, on every
 * instance of order-service, with the changes made the way clients make them (a payment through
 * payment-service, a refund, a cancel, a logout through user-service).
 */
const topology = topologyFromEnv();
const signedUp = () => signUpOn(topology);
const open: EventStreamReader[] = [];
afterEach(() => {
  for (const reader of open.splice(0)) reader.close();
});

async function follow({ client, token }: Caller, orderId: string, opts: { instance?: number; lastEventId?: string } = {}): Promise<EventStreamReader> {
  const reader = await client.follow(token, orderId, opts);
  open.push(reader);
  return reader;
}

type OrderData = { id: string; status: string; updatedAt: string };
const dataOf = (e: { data: string }) => JSON.parse(e.data) as OrderData;
const seen = (reader: EventStreamReader) => reader.events.map((e) => [e.event, e.id, dataOf(e).status]);
const instances = () => topology.order.map((_, i) => i);

async function statusBecomes({ client, token }: Caller, orderId: string, status: string): Promise<void> {
  await eventually(async () => (await client.getOrder(token, orderId)).body?.status === status, 10_000, 50);
}

describe('GET /v1/orders/{id}/events', () => {
  it('when a client follows an order on each instance, then each sees it PENDING, then PAID and REFUNDED within 1 s of their commits, whichever instance made them, and then the stream ends', async () => {
    const caller = await signedUp();
    const { client, token } = caller;
    const orderId = await client.newOrder(token);
    const readers = await Promise.all(instances().map((instance) => follow(caller, orderId, { instance })));
    for (const reader of readers) {
      expect([reader.status, reader.headers['content-type'], reader.headers['x-request-id'] !== undefined]).toEqual([200, 'text/event-stream; charset=utf-8', true]);
      const first = await reader.event(0);
      expect([first.event, first.id, dataOf(first)]).toEqual(['order.status', '1', (await client.getOrder(token, orderId)).body]);
    }

    const payment = await client.pay(token, orderId);
    expect(payment.status).toBe(201);
    for (const reader of readers) {
      const paid = await reader.event(1);
      expect([paid.id, dataOf(paid).status]).toEqual(['2', 'PAID']);
      // updatedAt is the commit's time on this machine's clock.
      expect(paid.at - Date.parse(dataOf(paid).updatedAt)).toBeLessThan(1_000);
    }
    await statusBecomes(caller, orderId, 'PAID');
    expect((await client.refund(token, payment.body.id)).status).toBe(201);
    for (const reader of readers) {
      const refunded = await reader.event(2);
      expect([refunded.id, dataOf(refunded).status]).toEqual(['3', 'REFUNDED']);
      expect(refunded.at - Date.parse(dataOf(refunded).updatedAt)).toBeLessThan(1_000);
      await reader.ended;
      expect(seen(reader)).toEqual([
        ['order.status', '1', 'PENDING'],
        ['order.status', '2', 'PAID'],
        ['order.status', '3', 'REFUNDED'],
      ]);
    }
  });

  it('when the connection drops and the client comes back with Last-Event-ID, then it gets every change it missed, once, on any instance; and 204 once it has the final one', async () => {
    const caller = await signedUp();
    const { client, token } = caller;
    const orderId = await client.newOrder(token);
    const first = await follow(caller, orderId, { instance: 0 });
    expect((await first.event(0)).id).toBe('1');
    first.close();

    const payment = await client.pay(token, orderId);
    await statusBecomes(caller, orderId, 'PAID');
    await client.refund(token, payment.body.id);
    await statusBecomes(caller, orderId, 'REFUNDED');

    const resumed = await follow(caller, orderId, { instance: instances().length - 1, lastEventId: '1' });
    await resumed.ended;
    expect(seen(resumed)).toEqual([
      ['order.status', '2', 'PAID'],
      ['order.status', '3', 'REFUNDED'],
    ]);
    for (const instance of instances()) {
      const done = await follow(caller, orderId, { instance, lastEventId: '3' });
      expect([done.status, await done.text()]).toEqual([204, '']);
    }
  });

  it('when the order is cancelled, then its streams get CANCELLED and end', async () => {
    const caller = await signedUp();
    const { client, token } = caller;
    const orderId = await client.newOrder(token);
    const readers = await Promise.all(instances().map((instance) => follow(caller, orderId, { instance })));
    await Promise.all(readers.map((r) => r.event(0)));
    expect((await client.cancel(token, orderId)).status).toBe(200);
    for (const reader of readers) {
      await reader.ended;
      expect(seen(reader)).toEqual([
        ['order.status', '1', 'PENDING'],
        ['order.status', '2', 'CANCELLED'],
      ]);
    }
  });

  it('when the session logs out, then its open streams end within 5 s on every instance, and a new one is 401', async () => {
    const caller = await signedUp();
    const { client, token } = caller;
    const orderId = await client.newOrder(token);
    const readers = await Promise.all(instances().map((instance) => follow(caller, orderId, { instance })));
    await Promise.all(readers.map((r) => r.event(0)));
    const loggedOutAt = Date.now();
    expect((await client.answer(client.api(token).user.POST('/v1/auth/logout'))).status).toBe(204);
    for (const reader of readers) {
      const { at } = await reader.ended;
      expect(at - loggedOutAt).toBeLessThan(5_000);
      expect(reader.comments).toContain('closed: the token was revoked');
    }
    const again = await follow(caller, orderId);
    expect(again.status).toBe(401);
  });

  it('when a user has 10 streams open over the instances, then an 11th is 429 TOO_MANY_STREAMS on every instance, and one closing makes room', async () => {
    const caller = await signedUp();
    const { client, token } = caller;
    const orders = [await client.newOrder(token), await client.newOrder(token)];
    const ten = await Promise.all(Array.from({ length: 10 }, (_, i) => follow(caller, orders[i % 2] as string, { instance: i })));
    expect(ten.map((r) => r.status)).toEqual(Array(10).fill(200));
    for (const instance of instances()) {
      const refused = await follow(caller, orders[0] as string, { instance });
      const body = JSON.parse(await refused.text()) as { code: string };
      expect([refused.status, body.code, refused.headers['retry-after']]).toEqual([429, 'TOO_MANY_STREAMS', '5']);
    }
    ten[0]?.close();
    const admitted = await eventually(async () => {
      const reader = await follow(caller, orders[1] as string);
      return reader.status === 200 ? reader : undefined;
    }, 5_000, 50);
    expect(admitted?.status).toBe(200);
  });

  it("when a client follows another user's order, or none, then 404 NOT_FOUND", async () => {
    const owner = await signedUp();
    const other = await signedUp();
    const orderId = await owner.client.newOrder(owner.token);
    for (const id of [orderId, '01939f7e-5a4b-7c3d-8e2f-1a2b3c4d5e6f']) {
      const reader = await follow(other, id);
      const body = await reader.text();
      expectProblem({ status: reader.status, headers: new Headers(reader.headers as Record<string, string>), body: JSON.parse(body), text: body }, 404, 'NOT_FOUND');
    }
  });
});
