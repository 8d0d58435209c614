import { createDataSource, initializeDataSource, uuidToBinary } from '@platform/db';
import { keySpace } from '@platform/redis';
import type { App } from '@platform/service-kit';
import { testKeyPrefix } from '@platform/testing';
import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { bearer, buildSignedIn, createOrder, type Built } from './helper';

/** CONTRACT.md, Orders, "Conditional requests": ETag, If-None-Match on the read, If-Match on the cancel. */
let app: App;
let tokenFor: Built['tokenFor'];
let db: DataSource;
const prefix = testKeyPrefix('order');
const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
beforeAll(async () => {
  let databaseUrl: string;
  ({ app, tokenFor, databaseUrl } = await buildSignedIn({ REDIS_KEY_PREFIX: prefix }));
  db = await initializeDataSource(createDataSource({ url: databaseUrl, poolSize: 2, connectTimeoutMs: 5_000 }), {});
});
afterAll(async () => {
  await db?.destroy();
  redis.disconnect();
  await app?.close();
});

const get = (token: string, id: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'GET', url: `/v1/orders/${id}`, headers: { ...bearer(token), ...headers } });
const cancel = (token: string, id: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: `/v1/orders/${id}/cancel`, headers: { ...bearer(token), ...headers } });

async function row(id: string): Promise<{ status: string; version: number }> {
  const rows = (await db.query('SELECT status, version FROM orders WHERE id = ?', [uuidToBinary(id)])) as { status: string; version: number }[];
  return { status: String(rows[0]?.status), version: Number(rows[0]?.version) };
}

describe('ETag and If-None-Match on GET /v1/orders/{id}', () => {
  it('when an order is read, then a strong ETag names its id and version, the same on a miss and a hit', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const miss = await get(token, order.id);
    const hit = await get(token, order.id);
    expect(miss.headers['etag']).toBe(`"${order.id}.1"`);
    expect(hit.headers['etag']).toBe(miss.headers['etag']);
    // The version travels in the header only: the body is the contract's order.
    expect(Object.keys(hit.json()).sort()).toEqual(['createdAt', 'currency', 'id', 'items', 'status', 'totalAmount', 'updatedAt', 'userId']);
  });

  it.each([
    ['the current tag', (tag: string) => tag],
    ['a list that holds it', (tag: string) => `"other", ${tag}`],
    ['its weak form', (tag: string) => `W/${tag}`],
    ['*', () => '*'],
  ])('when If-None-Match is %s, then 304 with no body, the ETag, x-request-id and the RateLimit fields', async (_name, header) => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const tag = (await get(token, order.id)).headers['etag'] as string;
    const res = await get(token, order.id, { 'if-none-match': header(tag), 'x-request-id': 'cond-1' });
    expect(res.statusCode).toBe(304);
    expect(res.body).toBe('');
    expect(res.headers['etag']).toBe(tag);
    expect(res.headers['x-request-id']).toBe('cond-1');
    expect(res.headers['ratelimit']).toBeDefined();
    expect(res.headers['ratelimit-policy']).toBeDefined();
  });

  it('when If-None-Match names an older version, then 200 with the order and the new tag', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const before = (await get(token, order.id)).headers['etag'] as string;
    expect((await cancel(token, order.id)).statusCode).toBe(200);
    const res = await get(token, order.id, { 'if-none-match': before });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('CANCELLED');
    expect(res.headers['etag']).toBe(`"${order.id}.2"`);
  });

  it('when If-None-Match names another user’s order tag, then still 404', async () => {
    const owner = tokenFor();
    const order = await createOrder(app, owner.token);
    const tag = (await get(owner.token, order.id)).headers['etag'] as string;
    expect((await get(tokenFor().token, order.id, { 'if-none-match': tag })).statusCode).toBe(404);
  });

  it('when the cached entry was written without a version, then it is read from MySQL, tagged, and replaced', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const entry = keySpace(prefix).cache(`orders:${order.id}`).value;
    await redis.set(entry, JSON.stringify(order), 'EX', 60);
    const res = await get(token, order.id);
    expect(res.statusCode).toBe(200);
    expect(res.headers['etag']).toBe(`"${order.id}.1"`);
    expect((await get(token, order.id)).headers['etag']).toBe(`"${order.id}.1"`);
    expect(JSON.parse((await redis.get(entry)) as string).version).toBe(1);
  });
});

describe('If-Match on POST /v1/orders/{id}/cancel', () => {
  it('when If-Match is the current tag, then the order is cancelled and the answer carries the new tag, which the next read gives', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const tag = (await get(token, order.id)).headers['etag'] as string;
    const res = await cancel(token, order.id, { 'if-match': tag });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('CANCELLED');
    expect(res.headers['etag']).toBe(`"${order.id}.2"`);
    expect((await get(token, order.id)).headers['etag']).toBe(res.headers['etag']);
    expect(await row(order.id)).toEqual({ status: 'CANCELLED', version: 2 });
  });

  it.each([
    ['an older version', (id: string) => `"${id}.0"`],
    ['another order’s tag', () => '"0193a0b0-0000-7000-8000-000000000000.1"'],
    ['the current tag, weak', (id: string) => `W/"${id}.1"`],
    ['not a tag', () => 'garbage'],
  ])('when If-Match is %s, then 412 PRECONDITION_FAILED and nothing changes', async (_name, header) => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const res = await cancel(token, order.id, { 'if-match': header(order.id) });
    expect(res.statusCode).toBe(412);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 412, code: 'PRECONDITION_FAILED', requestId: res.headers['x-request-id'] });
    expect(await row(order.id)).toEqual({ status: 'PENDING', version: 1 });
    expect((await get(token, order.id)).json().status).toBe('PENDING');
  });

  it('when If-Match is *, then the order is cancelled; for another user’s order, 404', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    expect((await cancel(tokenFor().token, order.id, { 'if-match': '*' })).statusCode).toBe(404);
    expect((await cancel(token, order.id, { 'if-match': '*' })).statusCode).toBe(200);
  });

  it('when the tag is stale because the order was cancelled since, then 412; with the current one, 409 ORDER_NOT_CANCELLABLE', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const first = await cancel(token, order.id);
    expect(first.statusCode).toBe(200);
    expect((await cancel(token, order.id, { 'if-match': `"${order.id}.1"` })).statusCode).toBe(412);
    const current = await cancel(token, order.id, { 'if-match': first.headers['etag'] as string });
    expect([current.statusCode, current.json().code]).toEqual([409, 'ORDER_NOT_CANCELLABLE']);
    expect(await row(order.id)).toEqual({ status: 'CANCELLED', version: 2 });
  });

  it('when two cancels race with the same If-Match, then exactly one wins and the other is 412', async () => {
    const { token } = tokenFor();
    for (let round = 0; round < 5; round++) {
      const order = await createOrder(app, token);
      const tag = `"${order.id}.1"`;
      const answers = await Promise.all([cancel(token, order.id, { 'if-match': tag }), cancel(token, order.id, { 'if-match': tag })]);
      expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 412]);
      expect(await row(order.id)).toEqual({ status: 'CANCELLED', version: 2 });
    }
  });

  it('when a cancel comes without If-Match, then it behaves as before and still bumps the version', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const res = await cancel(token, order.id);
    expect([res.statusCode, res.headers['etag']]).toEqual([200, `"${order.id}.2"`]);
    expect(await row(order.id)).toEqual({ status: 'CANCELLED', version: 2 });
  });
});
