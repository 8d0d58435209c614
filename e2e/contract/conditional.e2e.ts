import { eventually, type Answer } from '../src/client';
import { expectProblem, signedUp as signUpOn } from '../src/expect';
import { topologyFromEnv } from '../src/platform';

/**
 * CONTRACT.md, Orders, "Conditional requests": a strong ETag on the three reads, 304 for the
 * current one, 412 for a stale If-Match on cancel and rename, on every instance, through the
 * typed client (so the header parameters are the documents' own).
 */
const topology = topologyFromEnv();
const signedUp = () => signUpOn(topology);
const STRONG_TAG = /^"[^"]+"$/;

function expectNotModified(answers: Answer[], tag: string): void {
  for (const res of answers) {
    expect([res.status, res.text, res.headers.get('etag')]).toEqual([304, '', tag]);
    expect(res.headers.get('x-request-id')).toBeTruthy();
  }
}

describe('GET /v1/orders/{id} and POST /v1/orders/{id}/cancel', () => {
  it('when a client holds the current tag, then 304 on every instance; a stale If-Match is 412 everywhere and changes nothing; the current one cancels', async () => {
    const { client, token } = await signedUp();
    const id = await client.newOrder(token);
    const first = await client.getOrder(token, id);
    const tag = first.headers.get('etag') as string;
    expect(tag).toMatch(STRONG_TAG);
    const read = (ifNoneMatch: string) => client.onEvery('order', token, (api) => api.order.GET('/v1/orders/{id}', { params: { path: { id }, header: { 'If-None-Match': ifNoneMatch } } }));
    expectNotModified(await read(tag), tag);

    const stale = tag.replace(/\.(\d+)"$/, (_m, v: string) => `.${Number(v) + 7}"`);
    const cancelIf = (ifMatch: string, instance: number) =>
      client.answer(client.api(token, { instance }).order.POST('/v1/orders/{id}/cancel', { params: { path: { id }, header: { 'If-Match': ifMatch } } }));
    const instances = client.instances('order').map((_, i) => i);
    for (const res of await Promise.all(instances.map((i) => cancelIf(stale, i)))) expectProblem(res, 412, 'PRECONDITION_FAILED');
    for (const res of await read('"none"')) expect([res.status, res.body.status, res.headers.get('etag')]).toEqual([200, 'PENDING', tag]);

    const cancelled = await cancelIf(tag, 0);
    expect([cancelled.status, cancelled.body.status]).toEqual([200, 'CANCELLED']);
    const next = cancelled.headers.get('etag') as string;
    expect(next).toMatch(STRONG_TAG);
    expect(next).not.toBe(tag);
    // Every instance answers the change at once: the old tag gets the new order, the new tag 304.
    for (const res of await read(tag)) expect([res.status, res.body.status, res.headers.get('etag')]).toEqual([200, 'CANCELLED', next]);
    expectNotModified(await read(next), next);
  });

  it('when every instance is asked twice to cancel with the same If-Match at once, then exactly one cancels and the other answers 412', async () => {
    const { client, token } = await signedUp();
    const id = await client.newOrder(token);
    const tag = (await client.getOrder(token, id)).headers.get('etag') as string;
    const everywhere = () => client.onEvery('order', token, (api) => api.order.POST('/v1/orders/{id}/cancel', { params: { path: { id }, header: { 'If-Match': tag } } }));
    // Two on each instance, so that even one instance races with itself.
    const statuses = (await Promise.all([everywhere(), everywhere()])).flat().map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(statuses.length - 1);
  });
});

describe('GET /v1/payments/{id}', () => {
  it('when a client holds the current tag, then 304 on every instance, and after a refund 200 with a new tag', async () => {
    const { client, token } = await signedUp();
    const orderId = await client.newOrder(token);
    const paid = await client.pay(token, orderId);
    expect(paid.status).toBe(201);
    const id = paid.body.id as string;
    const read = (ifNoneMatch: string) => client.onEvery('payment', token, (api) => api.payment.GET('/v1/payments/{id}', { params: { path: { id }, header: { 'If-None-Match': ifNoneMatch } } }));
    const tag = (await read('"none"'))[0]?.headers.get('etag') as string;
    expect(tag).toMatch(STRONG_TAG);
    expectNotModified(await read(tag), tag);
    // The order is PAID once its event is handled; a refund needs the payment alone.
    expect((await client.refund(token, id, 100)).status).toBe(201);
    for (const res of await read(tag)) {
      expect([res.status, res.body.refundedAmount]).toEqual([200, 100]);
      expect(res.headers.get('etag')).not.toBe(tag);
    }
  });
});

describe('GET and PATCH /v1/users/me', () => {
  it('when a client holds the current tag, then 304 on every instance; a stale If-Match is 412 everywhere and changes nothing; the current one renames', async () => {
    const { client, token, user } = await signedUp();
    const read = (ifNoneMatch: string) => client.onEvery('user', token, (api) => api.user.GET('/v1/users/me', { params: { header: { 'If-None-Match': ifNoneMatch } } }));
    const tag = (await read('"none"'))[0]?.headers.get('etag') as string;
    expect(tag).toMatch(STRONG_TAG);
    expectNotModified(await read(tag), tag);

    const renameIf = (ifMatch: string, name: string, instance: number) =>
      client.answer(client.api(token, { instance }).user.PATCH('/v1/users/me', { params: { header: { 'If-Match': ifMatch } }, body: { name } }));
    const instances = client.instances('user').map((_, i) => i);
    for (const res of await Promise.all(instances.map((i) => renameIf('"stale.1"', 'Mallory', i)))) expectProblem(res, 412, 'PRECONDITION_FAILED');
    expectNotModified(await read(tag), tag);

    const renamed = await renameIf(tag, 'Grace', instances.length - 1);
    expect([renamed.status, renamed.body.name]).toEqual([200, 'Grace']);
    const next = renamed.headers.get('etag') as string;
    expect(next).not.toBe(tag);
    for (const res of await read(tag)) expect([res.status, res.body.name, res.headers.get('etag')]).toEqual([200, 'Grace', next]);
    expect(user.name).not.toBe('Grace');
  });
});

// The order moves on its own too: a payment's event changes its tag without anyone asking.
describe('an order moved by its payment', () => {
  it('when the payment succeeds, then the order’s tag changes on every instance', async () => {
    const { client, token } = await signedUp();
    const id = await client.newOrder(token);
    const tag = (await client.getOrder(token, id)).headers.get('etag') as string;
    expect((await client.pay(token, id)).status).toBe(201);
    expect(await eventually(async () => (await client.getOrder(token, id)).body.status === 'PAID', 5_000)).toBe(true);
    const answers = await client.onEvery('order', token, (api) => api.order.GET('/v1/orders/{id}', { params: { path: { id }, header: { 'If-None-Match': tag } } }));
    for (const res of answers) expect([res.status, res.body.status]).toEqual([200, 'PAID']);
  });
});
