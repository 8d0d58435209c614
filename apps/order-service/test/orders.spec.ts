import type { App } from '@platform/service-kit';
import { ITEM, bearer, buildSignedIn, createOrder, type Built, type OrderJson } from './helper';

let app: App;
let tokenFor: Built['tokenFor'];
beforeAll(async () => {
  ({ app, tokenFor } = await buildSignedIn());
});
afterAll(() => app?.close());

const post = (url: string, token: string, payload?: object, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url, headers: { ...bearer(token), ...headers }, ...(payload ? { payload } : {}) });
const get = (url: string, token: string) => app.inject({ method: 'GET', url, headers: bearer(token) });
const withItems = (items: object[], currency = 'EUR') => ({ currency, items });
const item = (over: Record<string, unknown>) => ({ ...ITEM, ...over });

async function cacheHits(): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith('cache_requests_total{') && l.includes('cache="orders"') && l.includes('result="hit"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('POST /v1/orders', () => {
  it('when a user places an order, then 201 with Location, the computed totals, PENDING, and the caller as owner', async () => {
    const { userId, token } = tokenFor();
    const res = await post('/v1/orders', token, withItems([ITEM, item({ sku: 'MUG', name: 'Mug', unitPrice: 850, quantity: 3 })]));
    expect(res.statusCode).toBe(201);
    const order = res.json<OrderJson>();
    expect(res.headers['location']).toBe(`/v1/orders/${order.id}`);
    expect(Object.keys(order).sort()).toEqual(['createdAt', 'currency', 'id', 'items', 'status', 'totalAmount', 'updatedAt', 'userId']);
    expect(order).toMatchObject({ userId, status: 'PENDING', currency: 'EUR', totalAmount: 2 * 1299 + 3 * 850 });
    expect(order.items).toEqual([
      { ...ITEM, lineTotal: 2598 },
      { sku: 'MUG', name: 'Mug', unitPrice: 850, quantity: 3, lineTotal: 2550 },
    ]);
    expect(order.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(order.createdAt).toBe(order.updatedAt);
    expect(new Date(order.createdAt).toISOString()).toBe(order.createdAt);
    expect(Math.abs(Date.parse(order.createdAt) - Date.now())).toBeLessThan(60_000);
    expect((await get(`/v1/orders/${order.id}`, token)).json()).toEqual(order);
  });

  it('when every limit is at its inclusive edge, then the order is accepted and the total is exact', async () => {
    const { token } = tokenFor();
    // 100 names of 200 four-byte characters would pass 64 KiB (a 413); the longest name is checked below.
    const items = Array.from({ length: 100 }, (_, i) =>
      item({ sku: `${'S'.repeat(60)}${String(i).padStart(4, '0')}`, name: `${'n'.repeat(196)}${String(i).padStart(4, '0')}`, unitPrice: 100_000_000, quantity: 1_000 }),
    );
    const order = await createOrder(app, token, withItems(items));
    expect(order.items).toHaveLength(100);
    expect(order.totalAmount).toBe(10_000_000_000_000);
    expect(order.items[99]).toEqual({ ...items[99], lineTotal: 100_000_000_000 });
    const read = (await get(`/v1/orders/${order.id}`, token)).json<OrderJson>();
    expect(read.items.map((i) => i.sku)).toEqual(items.map((i) => i.sku));
    expect(read.items[0]?.name).toBe(items[0]?.name);
    const longest = await createOrder(app, token, withItems([item({ name: '😀'.repeat(200) })]));
    expect((await get(`/v1/orders/${longest.id}`, token)).json<OrderJson>().items[0]?.name).toBe('😀'.repeat(200));
    const smallest = await createOrder(app, token, withItems([item({ sku: 'x', name: 'y', unitPrice: 1, quantity: 1 })]));
    expect(smallest.totalAmount).toBe(1);
  });

  it.each([
    ['no items', withItems([]), 'body/items'],
    ['101 items', withItems(Array.from({ length: 101 }, () => ITEM)), 'body/items'],
    ['quantity 0', withItems([item({ quantity: 0 })]), 'body/items/0/quantity'],
    ['quantity 1001', withItems([item({ quantity: 1001 })]), 'body/items/0/quantity'],
    ['quantity as a string', withItems([item({ quantity: '2' })]), 'body/items/0/quantity'],
    ['a fractional quantity', withItems([item({ quantity: 1.5 })]), 'body/items/0/quantity'],
    ['unitPrice 0', withItems([item({ unitPrice: 0 })]), 'body/items/0/unitPrice'],
    ['a negative unitPrice', withItems([item({ unitPrice: -5 })]), 'body/items/0/unitPrice'],
    ['unitPrice 100000001', withItems([item({ unitPrice: 100_000_001 })]), 'body/items/0/unitPrice'],
    ['unitPrice in major units', withItems([item({ unitPrice: 12.99 })]), 'body/items/0/unitPrice'],
    ['an empty sku', withItems([item({ sku: '' })]), 'body/items/0/sku'],
    ['a 65-character sku', withItems([item({ sku: 'a'.repeat(65) })]), 'body/items/0/sku'],
    ['a sku with a space', withItems([item({ sku: 'TEA 250' })]), 'body/items/0/sku'],
    ['a sku with a quote', withItems([item({ sku: "a'--" })]), 'body/items/0/sku'],
    ['an empty name', withItems([item({ name: '' })]), 'body/items/0/name'],
    ['a 201-character name', withItems([item({ name: 'ß'.repeat(201) })]), 'body/items/0/name'],
    ['a lower-case currency', withItems([ITEM], 'eur'), 'body/currency'],
    ['a 4-letter currency', withItems([ITEM], 'EURO'), 'body/currency'],
    ['a currency ISO 4217 does not have', withItems([ITEM], 'XYZ'), 'body/currency'],
    ['a withdrawn currency', withItems([ITEM], 'HRK'), 'body/currency'],
    ['the testing code', withItems([ITEM], 'XTS'), 'body/currency'],
    ['no currency', { items: [ITEM] }, 'body/currency'],
    ['a client-chosen total', { ...withItems([ITEM]), totalAmount: 1 }, 'body/totalAmount'],
    ['a client-chosen status', { ...withItems([ITEM]), status: 'PAID' }, 'body/status'],
    ['an undeclared item property', withItems([item({ lineTotal: 1 })]), 'body/items/0/lineTotal'],
  ])('when the body has %s, then 400 VALIDATION_FAILED naming the field, and nothing is stored', async (_case, body, path) => {
    const { token } = tokenFor();
    const res = await post('/v1/orders', token, body);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = res.json<{ code: string; errors: { path: string }[] }>();
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors.map((e) => e.path)).toContain(path);
    expect((await get('/v1/orders', token)).json<{ data: unknown[] }>().data).toEqual([]);
  });

  it.each(['XYZ', 'eur', 42])('when the currency is %p, then the 400 says once what a currency must be', async (currency) => {
    const { token } = tokenFor();
    const res = await post('/v1/orders', token, withItems([ITEM], currency as string));
    expect(res.statusCode).toBe(400);
    expect(res.json<{ errors: unknown[] }>().errors).toEqual([{ path: 'body/currency', message: 'must be an ISO 4217 currency code in current use' }]);
  });

  it.each(['USD', 'JPY', 'CHF', 'SLE', 'ZWG'])('when the currency is %s, then the order is placed in it', async (currency) => {
    const { token } = tokenFor();
    const res = await post('/v1/orders', token, withItems([ITEM], currency));
    expect(res.statusCode).toBe(201);
    expect(res.json<OrderJson>().currency).toBe(currency);
  });

  it.each([
    ['SQL-like', "Robert'); DROP TABLE orders;-- \\ \" ` %_"],
    ['CJK and emoji', '日本語のお茶 🍵 and 👩🏽‍💻'],
    ['combining marks and right-to-left text', 'e\u0301 \u202eabc \u05e9\u05dc\u05d5\u05dd'],
    ['control characters and a NUL', 'tab\there\nnew line\u0000end'],
    ['surrounding spaces', '  spaced  '],
  ])('when an item name is %s, then it round-trips byte for byte', async (_case, name) => {
    const { token } = tokenFor();
    const order = await createOrder(app, token, withItems([item({ name, sku: 'a.b-c_D9' })]));
    expect(order.items[0]?.name).toBe(name);
    for (let read = 0; read < 2; read++) {
      expect((await get(`/v1/orders/${order.id}`, token)).json<OrderJson>().items[0]).toMatchObject({ name, sku: 'a.b-c_D9' });
    }
    expect((await get('/v1/orders', token)).json<{ data: OrderJson[] }>().data[0]?.items[0]?.name).toBe(name);
  });

  it('when no bearer token is sent, then every route answers 401 with WWW-Authenticate', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    for (const [method, url] of [
      ['POST', '/v1/orders'],
      ['GET', '/v1/orders'],
      ['GET', `/v1/orders/${order.id}`],
      ['POST', `/v1/orders/${order.id}/cancel`],
    ] as const) {
      const res = await app.inject({ method, url, ...(method === 'POST' ? { payload: withItems([ITEM]) } : {}) });
      expect([url, res.statusCode]).toEqual([url, 401]);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
  });
});

describe('Idempotency-Key on POST /v1/orders', () => {
  it('when the same key and body are sent twice, then the first 201 is replayed and one order exists', async () => {
    const { token } = tokenFor();
    const body = withItems([ITEM]);
    const first = await post('/v1/orders', token, body, { 'idempotency-key': 'order-1' });
    const again = await post('/v1/orders', token, body, { 'idempotency-key': 'order-1' });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['location']).toBe(first.headers['location']);
    expect(again.json()).toEqual(first.json());
    expect((await get('/v1/orders', token)).json<{ data: unknown[] }>().data).toHaveLength(1);
  });

  it('when one key is sent by 10 concurrent requests, then one order is made and every answer is it or a 409 in progress', async () => {
    const { token } = tokenFor();
    const answers = await Promise.all(Array.from({ length: 10 }, () => post('/v1/orders', token, withItems([ITEM]), { 'idempotency-key': 'burst' })));
    const created = answers.filter((r) => r.statusCode === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((r) => r.json<OrderJson>().id)).size).toBe(1);
    for (const r of answers.filter((a) => a.statusCode !== 201)) {
      expect(r.statusCode).toBe(409);
      expect(r.json<{ code: string }>().code).toBe('IDEMPOTENCY_REQUEST_IN_PROGRESS');
    }
    expect((await get('/v1/orders', token)).json<{ data: unknown[] }>().data).toHaveLength(1);
  });

  it('when the key is reused with another body, then 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const { token } = tokenFor();
    expect((await post('/v1/orders', token, withItems([ITEM]), { 'idempotency-key': 'k' })).statusCode).toBe(201);
    const res = await post('/v1/orders', token, withItems([item({ quantity: 3 })]), { 'idempotency-key': 'k' });
    expect(res.statusCode).toBe(422);
    expect(res.json<{ code: string }>().code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('when another user sends the same key, then it is their own key and makes their own order', async () => {
    const a = tokenFor();
    const b = tokenFor();
    const first = await post('/v1/orders', a.token, withItems([ITEM]), { 'idempotency-key': 'shared' });
    const second = await post('/v1/orders', b.token, withItems([ITEM]), { 'idempotency-key': 'shared' });
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect(second.json<OrderJson>().userId).toBe(b.userId);
    expect(second.json<OrderJson>().id).not.toBe(first.json<OrderJson>().id);
  });

  it('when no key is sent, then two identical requests make two orders', async () => {
    const { token } = tokenFor();
    await createOrder(app, token);
    await createOrder(app, token);
    expect((await get('/v1/orders', token)).json<{ data: unknown[] }>().data).toHaveLength(2);
  });

  it('when a rejected body is retried with the same key, then it is validated again, not replayed', async () => {
    const { token } = tokenFor();
    expect((await post('/v1/orders', token, withItems([]), { 'idempotency-key': 'fix-me' })).statusCode).toBe(400);
    expect((await post('/v1/orders', token, withItems([ITEM]), { 'idempotency-key': 'fix-me' })).statusCode).toBe(201);
  });
});

describe('GET /v1/orders/{id}', () => {
  it('when an order is read twice, then the second read is a cache hit with the same body', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const first = await get(`/v1/orders/${order.id}`, token);
    const hits = await cacheHits();
    const second = await get(`/v1/orders/${order.id}`, token);
    expect(await cacheHits()).toBe(hits + 1);
    expect(second.json()).toEqual(first.json());
  });

  it('when a read asks Cache-Control: no-store, then it answers the order and fills nothing: the next read is a miss, and fills', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const noStore = (value: string) => app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: { ...bearer(token), 'cache-control': value } });
    const first = await noStore('no-store');
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual(order);
    expect((await noStore('max-age=0, NO-STORE')).statusCode).toBe(200);
    const hits = await cacheHits();
    // Not stored by either: this read misses (and fills), the one after it hits.
    expect((await get(`/v1/orders/${order.id}`, token)).json()).toEqual(order);
    expect(await cacheHits()).toBe(hits);
    expect((await get(`/v1/orders/${order.id}`, token)).json()).toEqual(order);
    expect(await cacheHits()).toBe(hits + 1);
    // A cached order answers a no-store read from the cache.
    expect((await noStore('no-store')).json()).toEqual(order);
    expect(await cacheHits()).toBe(hits + 2);
  });

  it('when another user asks for an order, cached or not, then 404 exactly as for one that does not exist', async () => {
    const owner = tokenFor();
    const other = tokenFor();
    const order = await createOrder(app, owner.token);
    const uncached = await get(`/v1/orders/${order.id}`, other.token);
    expect((await get(`/v1/orders/${order.id}`, owner.token)).statusCode).toBe(200);
    const cached = await get(`/v1/orders/${order.id}`, other.token);
    const missing = await get('/v1/orders/01900000-0000-7000-8000-000000000000', other.token);
    for (const res of [uncached, cached, missing]) {
      expect(res.statusCode).toBe(404);
      expect(res.json<{ code: string; detail: string }>()).toMatchObject({ code: 'NOT_FOUND', detail: 'No such order.' });
    }
  });

  it.each([["1' OR '1'='1"], ['not-a-uuid'], ['01900000000070008000000000000000']])('when the id is %j, then 404', async (id) => {
    const { token } = tokenFor();
    const res = await get(`/v1/orders/${encodeURIComponent(id)}`, token);
    expect(res.statusCode).toBe(404);
    expect(res.json<{ code: string }>().code).toBe('NOT_FOUND');
  });
});

describe('POST /v1/orders/{id}/cancel', () => {
  it('when a PENDING order is cancelled, then 200 CANCELLED, and the cached read shows it at once', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    await get(`/v1/orders/${order.id}`, token);
    await get(`/v1/orders/${order.id}`, token);
    const res = await post(`/v1/orders/${order.id}/cancel`, token);
    expect(res.statusCode).toBe(200);
    const cancelled = res.json<OrderJson>();
    expect(cancelled).toMatchObject({ id: order.id, status: 'CANCELLED', items: order.items, totalAmount: order.totalAmount, createdAt: order.createdAt });
    expect(Date.parse(cancelled.updatedAt)).toBeGreaterThanOrEqual(Date.parse(order.updatedAt));
    expect((await get(`/v1/orders/${order.id}`, token)).json()).toEqual(cancelled);
  });

  it('when a cancelled order is cancelled again, then 409 ORDER_NOT_CANCELLABLE', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    expect((await post(`/v1/orders/${order.id}/cancel`, token)).statusCode).toBe(200);
    const res = await post(`/v1/orders/${order.id}/cancel`, token);
    expect(res.statusCode).toBe(409);
    expect(res.json<{ code: string; detail: string }>()).toMatchObject({ code: 'ORDER_NOT_CANCELLABLE', detail: expect.stringContaining('CANCELLED') });
  });

  it("when another user cancels an order, then 404 and the owner's order stays PENDING", async () => {
    const owner = tokenFor();
    const other = tokenFor();
    const order = await createOrder(app, owner.token);
    const res = await post(`/v1/orders/${order.id}/cancel`, other.token);
    expect(res.statusCode).toBe(404);
    expect(res.json<{ code: string }>().code).toBe('NOT_FOUND');
    expect((await get(`/v1/orders/${order.id}`, owner.token)).json<OrderJson>().status).toBe('PENDING');
    expect((await post('/v1/orders/01900000-0000-7000-8000-000000000000/cancel', owner.token)).statusCode).toBe(404);
    expect((await post(`/v1/orders/${encodeURIComponent("x' OR 1=1 --")}/cancel`, owner.token)).statusCode).toBe(404);
  });

  it('when one order is cancelled by 10 concurrent requests, then exactly one gets 200', async () => {
    const { token } = tokenFor();
    const order = await createOrder(app, token);
    const codes = (await Promise.all(Array.from({ length: 10 }, () => post(`/v1/orders/${order.id}/cancel`, token)))).map((r) => r.statusCode);
    expect(codes.filter((c) => c === 200)).toHaveLength(1);
    expect(codes.filter((c) => c === 409)).toHaveLength(9);
  });
});

describe('OpenAPI', () => {
  it('when /docs/json is read, then every orders route is there with its bearer security, body limits and answers', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown>; requestBody?: { content: Record<string, { schema: { properties: Record<string, { maxItems?: number; enum?: string[] }> } }> } }>>;
    }>();
    const routes = [
      ['/v1/orders', 'post', ['201', '400', '401', '409', '422']],
      ['/v1/orders', 'get', ['200', '400', '401']],
      ['/v1/orders/{id}', 'get', ['200', '401', '404']],
      ['/v1/orders/{id}/cancel', 'post', ['200', '401', '404', '409']],
    ] as const;
    for (const [path, method, statuses] of routes) {
      const op = doc.paths[path]?.[method];
      expect([path, method, op?.security]).toEqual([path, method, [{ bearerAuth: [] }]]);
      for (const status of statuses) expect([path, method, status, op?.responses[status] !== undefined]).toEqual([path, method, status, true]);
    }
    const body = doc.paths['/v1/orders']?.['post']?.requestBody?.content['application/json']?.schema;
    expect(body?.properties['items']?.maxItems).toBe(100);
    expect(body?.properties['currency']?.enum).toEqual(expect.arrayContaining(['EUR', 'USD', 'JPY']));
    expect(body?.properties['currency']?.enum).not.toContain('XYZ');
  });

  it('when /docs/json is read, then Idempotency-Key is optional on POST /v1/orders, its 201 names Location, and limit is optional', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    const create = doc.paths['/v1/orders'].post;
    expect(create.parameters).toContainEqual({ $ref: '#/components/parameters/IdempotencyKey' });
    expect(doc.components.parameters.IdempotencyKey).toMatchObject({ in: 'header', name: 'Idempotency-Key', required: false });
    expect(Object.keys(create.responses['201'].headers)).toEqual(expect.arrayContaining(['Location', 'Idempotent-Replayed', 'RateLimit', 'x-request-id']));
    expect(create.responses['400'].content['application/problem+json']).toBeDefined();
    const limit = (doc.paths['/v1/orders'].get.parameters as { name?: string; required?: boolean; schema?: { default?: number } }[]).find((p) => p.name === 'limit');
    expect(limit).toMatchObject({ required: false, schema: { default: 20 } });
  });
});
