import { randomUUID } from 'node:crypto';
import { eventually, ITEMS, ITEMS_TOTAL, type Answer, type Client } from '../src/client';
import { topologyFromEnv } from '../src/platform';
import { expectProblem, signedUp as signUpOn } from '../src/expect';

/**
 * CONTRACT.md, Orders: every row of the table over HTTP, as an outside client sees it.
 * Consecutive requests land on different order-service instances when there are several.
 */
const topology = topologyFromEnv();
const signedUp = () => signUpOn(topology);
const ORDER_FIELDS = ['createdAt', 'currency', 'id', 'items', 'status', 'totalAmount', 'updatedAt', 'userId'];
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ITEM = ITEMS[0] as (typeof ITEMS)[number];
const item = (over: Record<string, unknown>) => ({ ...ITEM, ...over });



const paths = (res: Answer): string[] => (res.body?.errors ?? []).map((e: { path: string }) => e.path);

describe('POST /v1/orders', () => {
  it('when a user places an order, then 201 with exactly the order fields, its Location, PENDING, the caller as owner and totals computed by the server', async () => {
    const { client, user, token } = await signedUp();
    const items = [...ITEMS, { sku: 'MUG_2', name: 'Mug', unitPrice: 850, quantity: 3 }];
    const res = await client.createOrder(token, items);
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const order = res.body;
    expect(res.headers.get('location')).toBe(`/v1/orders/${order.id}`);
    expect(Object.keys(order).sort()).toEqual(ORDER_FIELDS);
    expect(order).toMatchObject({ userId: user.id, status: 'PENDING', currency: 'EUR', totalAmount: ITEMS_TOTAL + 2_550 });
    expect(order.items).toEqual([
      { ...ITEMS[0], lineTotal: 3_998 },
      { ...ITEMS[1], lineTotal: 250 },
      { sku: 'MUG_2', name: 'Mug', unitPrice: 850, quantity: 3, lineTotal: 2_550 },
    ]);
    expect(order.id).toMatch(UUID_V7);
    expect(new Date(order.createdAt).toISOString()).toBe(order.createdAt);
    expect(order.updatedAt).toBe(order.createdAt);
    // The Location answers on every instance with the same order.
    for (const read of await client.everywhere('order', 'GET', res.headers.get('location') as string, { token })) {
      expect([read.status, read.body]).toEqual([200, order]);
    }
  });

  it('when every limit is at its inclusive edge, then the order is accepted and every total is exact', async () => {
    const { client, token } = await signedUp();
    const sku = (i: number) => `${'Az09._-'.repeat(8)}${String(i).padStart(3, '0')}`.padEnd(64, 'x');
    const largest = Array.from({ length: 100 }, (_, i) => ({ sku: sku(i), name: `${'n'.repeat(197)}${String(i).padStart(3, '0')}`, unitPrice: 100_000_000, quantity: 1_000 }));
    const big = await client.createOrder(token, largest);
    expect(big.status).toBe(201);
    expect(big.body.totalAmount).toBe(10_000_000_000_000);
    expect(big.body.items).toEqual(largest.map((i) => ({ ...i, lineTotal: 100_000_000_000 })));
    const read = await client.getOrder(token, big.body.id);
    expect(read.body).toEqual(big.body);

    const smallest = await client.createOrder(token, [{ sku: 'x', name: 'y', unitPrice: 1, quantity: 1 }]);
    expect([smallest.status, smallest.body.totalAmount, smallest.body.items]).toEqual([201, 1, [{ sku: 'x', name: 'y', unitPrice: 1, quantity: 1, lineTotal: 1 }]]);
    // 200 characters are code points: 200 emoji (400 UTF-16 units) still fit.
    const emoji = await client.createOrder(token, [item({ name: '😀'.repeat(200) })]);
    expect([emoji.status, emoji.body.items?.[0]?.name]).toEqual([201, '😀'.repeat(200)]);
  });

  describe('with a body the contract refuses', () => {
    // One user for every case: none of them may store anything, so they cannot disturb each other.
    let caller: Awaited<ReturnType<typeof signedUp>>;
    beforeAll(async () => {
      caller = await signedUp();
    });
    const fields = { currency: 'EUR', items: [ITEM] };
    it.each([
      ['no items', 'body/items', { ...fields, items: [] }],
      ['101 items', 'body/items', { ...fields, items: Array.from({ length: 101 }, () => ITEM) }],
      ['no items property', 'body/items', { currency: 'EUR' }],
      ['quantity 0', 'body/items/0/quantity', { ...fields, items: [item({ quantity: 0 })] }],
      ['quantity 1001', 'body/items/0/quantity', { ...fields, items: [item({ quantity: 1_001 })] }],
      ['quantity "2" (a string)', 'body/items/0/quantity', { ...fields, items: [item({ quantity: '2' })] }],
      ['a fractional quantity', 'body/items/0/quantity', { ...fields, items: [item({ quantity: 1.5 })] }],
      ['unitPrice 0', 'body/items/0/unitPrice', { ...fields, items: [item({ unitPrice: 0 })] }],
      ['unitPrice 100000001', 'body/items/0/unitPrice', { ...fields, items: [item({ unitPrice: 100_000_001 })] }],
      ['unitPrice in major units', 'body/items/0/unitPrice', { ...fields, items: [item({ unitPrice: 19.99 })] }],
      ['unitPrice "100" (a string)', 'body/items/0/unitPrice', { ...fields, items: [item({ unitPrice: '100' })] }],
      ['an empty sku', 'body/items/0/sku', { ...fields, items: [item({ sku: '' })] }],
      ['a 65-character sku', 'body/items/0/sku', { ...fields, items: [item({ sku: 'a'.repeat(65) })] }],
      ['a sku with a space', 'body/items/0/sku', { ...fields, items: [item({ sku: 'TEA 250' })] }],
      ['a sku with a slash', 'body/items/0/sku', { ...fields, items: [item({ sku: 'a/b' })] }],
      ['a sku with a non-ASCII letter', 'body/items/0/sku', { ...fields, items: [item({ sku: 'Straße' })] }],
      ['an empty name', 'body/items/0/name', { ...fields, items: [item({ name: '' })] }],
      ['a 201-character name', 'body/items/0/name', { ...fields, items: [item({ name: 'ß'.repeat(201) })] }],
      ['a lower-case currency', 'body/currency', { ...fields, currency: 'eur' }],
      ['a 4-letter currency', 'body/currency', { ...fields, currency: 'EURO' }],
      ['a 2-letter currency', 'body/currency', { ...fields, currency: 'EU' }],
      ['no currency', 'body/currency', { items: [ITEM] }],
      ['a client-chosen totalAmount', 'body/totalAmount', { ...fields, totalAmount: 1 }],
      ['a client-chosen status', 'body/status', { ...fields, status: 'PAID' }],
      ['a client-chosen userId', 'body/userId', { ...fields, userId: randomUUID() }],
      ['a client-chosen id', 'body/id', { ...fields, id: randomUUID() }],
      ['a client-chosen lineTotal', 'body/items/0/lineTotal', { ...fields, items: [item({ lineTotal: 1 })] }],
    ])('when the body has %s, then 400 VALIDATION_FAILED naming %s, and no order is stored', async (_case, path, body) => {
      const { client, token } = caller;
      const res = await client.request('order', 'POST', '/v1/orders', { token, body });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(paths(res)).toContain(path);
      expect((await client.request('order', 'GET', '/v1/orders', { token })).body).toEqual({ data: [], nextCursor: null });
    });
  });
});

describe('GET /v1/orders/{id}', () => {
  it('when the owner reads an order on each instance, then 200 with the order as it was created', async () => {
    const { client, token } = await signedUp();
    const created = (await client.createOrder(token)).body;
    for (const read of await client.onEvery('order', token, (api) => api.order.GET('/v1/orders/{id}', { params: { path: { id: created.id } } }))) {
      expect([read.status, read.body]).toEqual([200, created]);
    }
  });

  it.each([
    ['an unknown UUID', '01900000-0000-7000-8000-000000000000'],
    ['a random UUID', randomUUID()],
    ['a non-UUID id', 'not-a-uuid'],
    ['an SQL-like id', "1' OR '1'='1"],
  ])('when the id is %s, then 404 NOT_FOUND', async (_case, id) => {
    const { client, token } = await signedUp();
    expectProblem(await client.getOrder(token, id), 404, 'NOT_FOUND');
  });
});

describe('GET /v1/orders', () => {
  const list = (client: Client, token: string, query = '') => client.request('order', 'GET', `/v1/orders${query}`, { token });
  /** A user with an order, for the refused queries: none of them changes anything. */
  let lister: Awaited<ReturnType<typeof signedUp>>;
  beforeAll(async () => {
    lister = await signedUp();
    await lister.client.newOrder(lister.token);
  });

  it('when a user pages through 7 orders 3 at a time, then every order comes once, newest first, and the last page has a null nextCursor', async () => {
    const { client, token } = await signedUp();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await client.newOrder(token));
    const pages: { data: { id: string; createdAt: string }[]; nextCursor: string | null }[] = [];
    let cursor: string | null = null;
    do {
      const res = await list(client, token, `?${new URLSearchParams({ limit: '3', ...(cursor ? { cursor } : {}) })}`);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['data', 'nextCursor']);
      pages.push(res.body);
      cursor = res.body.nextCursor;
    } while (cursor !== null && pages.length < 10);
    expect(pages.map((p) => [p.data.length, p.nextCursor === null])).toEqual([
      [3, false],
      [3, false],
      [1, true],
    ]);
    const listed = pages.flatMap((p) => p.data);
    expect(listed.map((o) => o.id)).toEqual([...ids].reverse());
    const times = listed.map((o) => Date.parse(o.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(Object.keys(listed[0] ?? {}).sort()).toEqual(ORDER_FIELDS);
  });

  it('when limit is left out, or is 1 or 100, then pages of 20, 1 and 100 at most', async () => {
    const { client, token } = await signedUp();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await client.newOrder(token));
    const newestFirst = [...ids].reverse();
    const whole = await list(client, token);
    expect([whole.status, whole.body.data.map((o: { id: string }) => o.id), whole.body.nextCursor]).toEqual([200, newestFirst, null]);
    const one = await list(client, token, '?limit=1');
    expect([one.status, one.body.data.map((o: { id: string }) => o.id)]).toEqual([200, newestFirst.slice(0, 1)]);
    expect(one.body.nextCursor).toEqual(expect.any(String));
    const hundred = await list(client, token, '?limit=100');
    expect([hundred.status, hundred.body.data.length, hundred.body.nextCursor]).toEqual([200, 3, null]);
  });

  it('when the status filter is used, then only orders of that status come, newest first', async () => {
    const { client, token } = await signedUp();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await client.newOrder(token));
    const cancelled = [ids[0], ids[2]] as string[];
    for (const id of cancelled) expect((await client.cancel(token, id)).status).toBe(200);
    const only = async (status: string) => {
      const res = await list(client, token, `?status=${status}&limit=100`);
      expect(res.status).toBe(200);
      expect(res.body.data.every((o: { status: string }) => o.status === status)).toBe(true);
      return res.body.data.map((o: { id: string }) => o.id);
    };
    expect(await only('CANCELLED')).toEqual([...cancelled].reverse());
    expect(await only('PENDING')).toEqual([ids[3], ids[1]]);
    expect((await list(client, token, '?status=PAID')).body).toEqual({ data: [], nextCursor: null });
  });

  it('when a user has no orders, then an empty page with a null nextCursor', async () => {
    const { client, token } = await signedUp();
    const res = await list(client, token);
    expect([res.status, res.body]).toEqual([200, { data: [], nextCursor: null }]);
  });

  it.each([
    ['limit=0', 'querystring/limit'],
    ['limit=101', 'querystring/limit'],
    ['limit=abc', 'querystring/limit'],
    ['limit=2.5', 'querystring/limit'],
    ['limit=-1', 'querystring/limit'],
    ['status=paid', 'querystring/status'],
    ['status=UNKNOWN', 'querystring/status'],
    ['cursor=', 'querystring/cursor'],
    ['cursor=AAAA', 'querystring/cursor'],
    ['cursor=%3Cscript%3E', 'querystring/cursor'],
    ["cursor=1'%20OR%20'1'%3D'1", 'querystring/cursor'],
  ])('when the query has %s, then 400 VALIDATION_FAILED naming %s', async (query, path) => {
    const { client, token } = lister;
    const res = await list(client, token, `?${query}`);
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(paths(res)).toContain(path);
  });
});

describe('POST /v1/orders/{id}/cancel', () => {
  it('when a PENDING order is cancelled, then 200 with the order CANCELLED, and a second cancel is 409 ORDER_NOT_CANCELLABLE', async () => {
    const { client, token } = await signedUp();
    const order = (await client.createOrder(token)).body;
    const res = await client.cancel(token, order.id);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(ORDER_FIELDS);
    expect(res.body).toEqual({ ...order, status: 'CANCELLED', updatedAt: expect.any(String) });
    expect(Date.parse(res.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(order.updatedAt));
    const again = await client.cancel(token, order.id);
    expectProblem(again, 409, 'ORDER_NOT_CANCELLABLE');
    expect((await client.getOrder(token, order.id)).body).toEqual(res.body);
  });

  it('when a PAID order is cancelled, then 409 ORDER_NOT_CANCELLABLE and it stays PAID', async () => {
    const { client, token } = await signedUp();
    const orderId = await client.newOrder(token);
    expect((await client.pay(token, orderId)).status).toBe(201);
    const read = () => client.getOrder(token, orderId);
    expect(await eventually(async () => (await read()).body.status === 'PAID', 10_000, 100)).toBe(true);
    expectProblem(await client.cancel(token, orderId), 409, 'ORDER_NOT_CANCELLABLE');
    expect((await read()).body.status).toBe('PAID');
  });

  it.each([
    ['an unknown UUID', randomUUID()],
    ['a non-UUID id', 'not-a-uuid'],
  ])('when the id is %s, then 404 NOT_FOUND', async (_case, id) => {
    const { client, token } = await signedUp();
    expectProblem(await client.cancel(token, id), 404, 'NOT_FOUND');
  });
});

describe('authentication', () => {
  it('when no bearer token is sent, then all four routes answer 401 problem+json with WWW-Authenticate, and nothing changes', async () => {
    const { client, token } = await signedUp();
    const orderId = await client.newOrder(token);
    for (const [method, path] of [
      ['POST', '/v1/orders'],
      ['GET', '/v1/orders'],
      ['GET', `/v1/orders/${orderId}`],
      ['POST', `/v1/orders/${orderId}/cancel`],
    ] as const) {
      const res = await client.request('order', method, path, method === 'POST' ? { body: { currency: 'EUR', items: ITEMS } } : {});
      expect([method, path, res.status]).toEqual([method, path, 401]);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(res.body).toMatchObject({ status: 401, code: expect.stringMatching(/^[A-Z_]+$/) });
    }
    const after = await client.request('order', 'GET', '/v1/orders', { token });
    expect(after.body.data.map((o: { id: string; status: string }) => [o.id, o.status])).toEqual([[orderId, 'PENDING']]);
  });
});
