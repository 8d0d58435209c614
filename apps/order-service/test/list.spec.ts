import type { App } from '@platform/service-kit';
import { bearer, buildSignedIn, createOrder, type Built, type OrderJson } from './helper';

let app: App;
let tokenFor: Built['tokenFor'];
beforeAll(async () => {
  ({ app, tokenFor } = await buildSignedIn());
});
afterAll(() => app?.close());

interface Page {
  data: OrderJson[];
  nextCursor: string | null;
}

const list = (token: string, query = '') => app.inject({ method: 'GET', url: `/v1/orders${query}`, headers: bearer(token) });

/** Every page from the first, following nextCursor. */
async function allPages(token: string, params: Record<string, string>): Promise<Page[]> {
  const pages: Page[] = [];
  let cursor: string | null | undefined;
  do {
    const query = new URLSearchParams({ ...params, ...(cursor ? { cursor } : {}) });
    const res = await list(token, `?${query}`);
    expect(res.statusCode).toBe(200);
    const page = res.json<Page>();
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor && pages.length < 1_000);
  return pages;
}

describe('GET /v1/orders', () => {
  let user: ReturnType<Built['tokenFor']>;
  let created: OrderJson[];

  beforeAll(async () => {
    user = tokenFor();
    created = [];
    // Sequential, so creation order is known; several share a millisecond.
    for (let i = 0; i < 47; i++) created.push(await createOrder(app, user.token));
    // Another user's orders interleaved in time must never show up.
    const stranger = tokenFor();
    for (let i = 0; i < 5; i++) await createOrder(app, stranger.token);
  }, 60_000);

  it('when a user pages through 47 orders 5 at a time, then every order appears once, newest first, and the last page says so', async () => {
    const pages = await allPages(user.token, { limit: '5' });
    expect(pages).toHaveLength(10);
    expect(pages.slice(0, 9).every((p) => p.data.length === 5 && p.nextCursor !== null)).toBe(true);
    expect(pages[9]).toMatchObject({ nextCursor: null });
    expect(pages[9]?.data).toHaveLength(2);
    const ids = pages.flatMap((p) => p.data.map((o) => o.id));
    expect(ids).toEqual(created.map((o) => o.id).reverse());
    const times = pages.flatMap((p) => p.data.map((o) => Date.parse(o.createdAt)));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('when a page is exactly the rest, then nextCursor is null rather than pointing at an empty page', async () => {
    const pages = await allPages(user.token, { limit: '47' });
    expect(pages).toHaveLength(1);
    expect(pages[0]?.nextCursor).toBeNull();
  });

  it('when orders are made while a client pages, then none of the pages already begun repeats or skips one', async () => {
    const first = (await list(user.token, '?limit=10')).json<Page>();
    const late = await createOrder(app, user.token);
    const rest = await allPages(user.token, { limit: '10', cursor: first.nextCursor ?? '' });
    const ids = [...first.data, ...rest.flatMap((p) => p.data)].map((o) => o.id);
    expect(ids).not.toContain(late.id);
    expect(ids).toEqual(created.map((o) => o.id).reverse());
    created.push(late);
  });

  it('when limit is left out, then the page holds 20', async () => {
    const page = (await list(user.token)).json<Page>();
    expect(page.data).toHaveLength(20);
    expect(page.nextCursor).not.toBeNull();
  });

  it('when the status filter is used, then only those orders come, paged with the same guarantees', async () => {
    const cancelled = created.filter((_, i) => i % 4 === 0);
    for (const order of cancelled) {
      const res = await app.inject({ method: 'POST', url: `/v1/orders/${order.id}/cancel`, headers: bearer(user.token) });
      expect(res.statusCode).toBe(200);
    }
    const pages = await allPages(user.token, { limit: '3', status: 'CANCELLED' });
    const got = pages.flatMap((p) => p.data);
    expect(got.every((o) => o.status === 'CANCELLED')).toBe(true);
    expect(got.map((o) => o.id)).toEqual(cancelled.map((o) => o.id).reverse());
    const pending = (await allPages(user.token, { limit: '100', status: 'PENDING' })).flatMap((p) => p.data);
    expect(pending).toHaveLength(created.length - cancelled.length);
    expect((await list(user.token, '?status=PAID')).json()).toEqual({ data: [], nextCursor: null });
  });

  it('when a user has no orders, then an empty page with a null cursor', async () => {
    expect((await list(tokenFor().token)).json()).toEqual({ data: [], nextCursor: null });
  });

  it.each([
    ['limit=0', 'querystring/limit'],
    ['limit=101', 'querystring/limit'],
    ['limit=abc', 'querystring/limit'],
    ['limit=2.5', 'querystring/limit'],
    ['status=paid', 'querystring/status'],
    ['cursor=', 'querystring/cursor'],
    ['cursor=%3Cscript%3E', 'querystring/cursor'],
    ['cursor=AAAA', 'querystring/cursor'],
    ["cursor=1'%20OR%20'1'%3D'1", 'querystring/cursor'],
    ['sort=id', 'querystring/sort'],
  ])('when the query has %s, then 400 VALIDATION_FAILED names %s', async (query, path) => {
    const res = await list(user.token, `?${query}`);
    expect(res.statusCode).toBe(400);
    const problem = res.json<{ code: string; errors: { path: string }[] }>();
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors.map((e) => e.path)).toContain(path);
  });

  it("when a cursor is used by another user, then 400 and none of the owner's orders", async () => {
    const cursor = (await list(user.token, '?limit=2')).json<Page>().nextCursor ?? '';
    const stranger = tokenFor();
    await createOrder(app, stranger.token);
    const res = await list(stranger.token, `?limit=2&cursor=${cursor}`);
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toContain(created[0]?.id);
  });

  it('when a cursor is used with another status filter than its own, then 400', async () => {
    const cursor = (await list(user.token, '?limit=2')).json<Page>().nextCursor ?? '';
    expect((await list(user.token, `?limit=2&status=PENDING&cursor=${cursor}`)).statusCode).toBe(400);
    const filtered = (await list(user.token, '?limit=2&status=PENDING')).json<Page>().nextCursor ?? '';
    expect((await list(user.token, `?limit=2&cursor=${filtered}`)).statusCode).toBe(400);
    expect((await list(user.token, `?limit=2&status=PENDING&cursor=${filtered}`)).statusCode).toBe(200);
  });
});
