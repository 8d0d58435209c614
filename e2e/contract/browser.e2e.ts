import { randomBytes, randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { ITEMS } from '../src/client';
import { chromiumMissing, launchChromium } from '../src/chromium';
import { startPageServer, type PageServer } from '../src/page-server';
import { topologyFromEnv, type ServiceName } from '../src/platform';

/**
 * CONTRACT.md, "Common rules", CORS: a page of another origin calls the API with fetch in a
 * real browser (Chromium), as a shop's front end would. Its origin is allowed when it is the
 * one the platform runs with (E2E_BROWSER_ORIGIN, served by the global setup); a page of any
 * other origin is refused by the browser, because the answers name no origin for it.
 */
const topology = topologyFromEnv();
const ALLOWED = process.env['E2E_BROWSER_ORIGIN'];
const SERVICES: ServiceName[] = ['user', 'order', 'payment'];
const REQUEST_HEADERS = ['authorization', 'content-type', 'idempotency-key', 'if-match', 'if-none-match', 'last-event-id', 'x-request-id'];
const EXPOSED = ['x-request-id', 'location', 'etag', 'ratelimit', 'ratelimit-policy', 'retry-after', 'idempotent-replayed'];
const list = (value: string | null) => (value ?? '').split(/,\s*/).map((s) => s.toLowerCase()).sort();
/** One simulated client per call, as e2e/src/client.ts names them, so per-address limits see this file apart. */
const clientAddress = () => `10.${[...randomBytes(3)].join('.')}`;

const missing = chromiumMissing();
const reason = missing ?? (ALLOWED ? undefined : 'E2E_BROWSER_ORIGIN is not set: name an origin the platform allows (CORS_ALLOWED_ORIGINS)');
if (reason) console.warn(`CORS browser e2e skipped: ${reason}`);

/** Each instance of each service, by base URL. */
const INSTANCES = SERVICES.flatMap((service) => topology[service].map((url, i) => ({ label: `${service}#${i + 1}`, url })));

(ALLOWED ? describe : describe.skip)('CORS over HTTP, on every instance', () => {
  const preflight = (url: string, origin: string) =>
    fetch(`${url}/v1/auth/logout`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,idempotency-key', 'x-forwarded-for': clientAddress() },
    });

  it.each(INSTANCES)('when a preflight comes from the allowed origin ($label), then 204 with the methods and request headers', async ({ url }) => {
    const res = await preflight(url, ALLOWED as string);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(list(res.headers.get('access-control-allow-methods'))).toEqual(expect.arrayContaining(['get', 'head', 'patch', 'post']));
    expect(list(res.headers.get('access-control-allow-headers'))).toEqual(REQUEST_HEADERS);
    expect(res.headers.get('ratelimit')).toBeNull();
  });

  it.each(INSTANCES)('when a preflight comes from another origin ($label), then no CORS field', async ({ url }) => {
    const res = await preflight(url, 'http://127.0.0.1:1');
    expect([...res.headers.keys()].filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });

  it.each(INSTANCES)('when the allowed origin gets an error answer ($label), then it exposes the API headers', async ({ url }) => {
    const res = await fetch(`${url}/v1/no-such-route`, { headers: { origin: ALLOWED as string, 'x-forwarded-for': clientAddress() } });
    expect(res.status).toBe(404);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(list(res.headers.get('access-control-expose-headers'))).toEqual([...EXPOSED].sort());
  });
});

(reason ? describe.skip : describe)(`CORS in the browser${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let browser: Browser;
  let stranger: PageServer;
  const user = topology.user[0] as string;
  const order = topology.order[0] as string;

  beforeAll(async () => {
    browser = await launchChromium();
    stranger = await startPageServer();
  });
  afterAll(async () => {
    await browser?.close();
    await stranger?.close();
  });

  async function pageOn(origin: string): Promise<Page> {
    const page = await browser.newPage();
    const res = await page.goto(`${origin}/`);
    expect(res?.status()).toBe(200);
    return page;
  }

  it('when the page is on the allowed origin, then it signs up, logs in, creates and reads an order, and reads the exposed headers and errors', async () => {
    const page = await pageOn(ALLOWED as string);
    const email = `e2e-cors-${randomUUID()}@example.test`;
    const password = `pw-${randomUUID()}`;
    const seen = await page.evaluate(
      async ({ user, order, email, password, items, key }) => {
        const json = { 'content-type': 'application/json' };
        const look = <T extends object>(res: Response, extra?: T) => ({ status: res.status, requestId: res.headers.get('x-request-id'), ...extra }) as { status: number; requestId: string | null } & T;
        const register = await fetch(`${user}/v1/auth/register`, { method: 'POST', headers: json, body: JSON.stringify({ email, password, name: 'Page' }) });
        const login = await fetch(`${user}/v1/auth/login`, { method: 'POST', headers: { ...json, 'x-request-id': 'page-login-1' }, body: JSON.stringify({ email, password }) });
        const { accessToken } = (await login.json()) as { accessToken: string };
        const bearer = { authorization: `Bearer ${accessToken}` };
        const create = await fetch(`${order}/v1/orders`, { method: 'POST', headers: { ...json, ...bearer, 'idempotency-key': key }, body: JSON.stringify({ currency: 'EUR', items }) });
        const created = (await create.json()) as { id: string };
        const read = await fetch(`${order}/v1/orders/${created.id}`, { headers: bearer });
        const body = (await read.json()) as { id: string };
        const refused = await fetch(`${order}/v1/orders/${created.id}`, { headers: { authorization: 'Bearer not-a-token' } });
        const problem = (await refused.json()) as { code: string };
        return {
          register: look(register),
          login: look(login),
          create: look(create, { location: create.headers.get('location'), id: created.id }),
          read: look(read, { rateLimit: read.headers.get('ratelimit'), id: body.id }),
          refused: look(refused, { code: problem.code }),
        };
      },
      { user, order, email, password, items: ITEMS, key: randomUUID() },
    );
    expect(seen.register.status).toBe(201);
    expect(seen.login).toEqual({ status: 200, requestId: 'page-login-1' });
    expect(seen.create.status).toBe(201);
    expect(seen.create.location).toBe(`/v1/orders/${seen.create.id}`);
    expect(seen.read.id).toBe(seen.create.id);
    expect(seen.read.status).toBe(200);
    expect(seen.read.rateLimit).toMatch(/^"default";r=\d+;t=\d+$/);
    expect(seen.refused.status).toBe(401);
    expect(seen.refused.code).toBe('UNAUTHORIZED');
    for (const answer of Object.values(seen)) expect(answer.requestId).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
    await page.close();
  });

  it('when the page is on another origin, then fetch rejects with a TypeError, preflighted or not, and the script reads nothing', async () => {
    const page = await pageOn(stranger.origin);
    const outcomes = await page.evaluate(
      async ({ user, order }) => {
        const attempt = async (request: () => Promise<Response>) => {
          try {
            const res = await request();
            return `answered ${res.status}`;
          } catch (err) {
            return err instanceof TypeError ? 'TypeError' : `threw ${String(err)}`;
          }
        };
        return {
          // JSON: a preflight first, which names no origin for this page.
          login: await attempt(() => fetch(`${user}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":"a@example.test","password":"x"}' })),
          // A simple request: sent, answered, and the answer withheld from the script.
          read: await attempt(() => fetch(`${order}/v1/orders/00000000-0000-7000-8000-000000000000`)),
        };
      },
      { user, order },
    );
    expect(outcomes).toEqual({ login: 'TypeError', read: 'TypeError' });
    await page.close();
  });
});
