import { generateSigningKey, signAccessToken, startJwksServer } from '@platform/auth/testing';
import type { App } from '@platform/service-kit';
import { buildApp } from '@platform/testing';
import fp from 'fastify-plugin';
import { randomUUID } from 'node:crypto';
import { definition } from '../../apps/order-service/src/app';
import { costOf } from '../../apps/order-service/test/session-counters';
import { MEASURED_USER } from './rows';
import { PAGE_SIZE, PAGES, type PageName } from './sql';

/**
 * The real order-service app (`buildApp`, as its tests build it), driven by `app.inject`,
 * with user-service stood in for by a JWKS server and test-signed tokens. DB_POOL_SIZE=1,
 * so every statement a request sends runs on the connection whose counters are read.
 */

export interface BenchApp {
  app: App;
  token(userId: string): string;
  close(): Promise<void>;
}

/**
 * The service's plugin keeps its decorators (`db` among them) inside its own context;
 * fastify-plugin lifts them onto the app the bench holds, so it can read `app.db`. The root
 * has no routes of its own and its hooks apply either way, so a request meets the same
 * hooks, route and handler as in the service.
 */
const exposed = { ...definition, plugin: fp(definition.plugin) };

export async function startBenchApp(databaseUrl: string, redisUrl: string, prefix: string): Promise<BenchApp> {
  const key = generateSigningKey();
  const jwks = await startJwksServer([key]);
  const env = {
    DATABASE_URL: databaseUrl,
    DB_POOL_SIZE: '1',
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: `${prefix}order:`,
    AUTH_REDIS_KEY_PREFIX: `${prefix}auth:`,
    EVENTS_REDIS_KEY_PREFIX: `${prefix}events:`,
    USER_SERVICE_URL: new URL(jwks.url).origin,
    RATE_LIMIT_MAX: '1000000',
  };
  const app = await buildApp(exposed, env, () => jwks.close()).catch(async (err: unknown) => {
    await jwks.close();
    throw err;
  });
  return { app, token: (sub) => signAccessToken(key, { claims: { sub } }), close: () => app.close() };
}

export interface Counted {
  /** The value most runs gave. */
  mode: number;
  /** Every value seen, with how many runs gave it, e.g. `4 ×19, 5 ×1`. */
  seen: string;
}
export interface AppFigures {
  statementsPerCreate: Record<'1 item' | '100 items', Counted>;
  perPage: Record<PageName, { statements: Counted; rowsRead: Counted }>;
}

/**
 * Runs `work` `runs` times on the app's one connection. The outbox relay polls that same
 * connection every 200 ms (one SELECT), and a poll that lands inside a measurement adds
 * to it: the value most runs agree on is the work's own, and every other one is shown.
 */
async function counted(app: App, runs: number, work: () => Promise<unknown>): Promise<{ statements: Counted; rowsRead: Counted }> {
  const questions: number[] = [];
  const rows: number[] = [];
  for (let i = 0; i < runs; i++) {
    const cost = await costOf(app.db, work);
    questions.push(cost.questions);
    rows.push(cost.rowsRead);
  }
  return { statements: tally(questions), rowsRead: tally(rows) };
}

function tally(xs: number[]): Counted {
  const byValue = new Map<number, number>();
  for (const x of xs) byValue.set(x, (byValue.get(x) ?? 0) + 1);
  const sorted = [...byValue].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return { mode: sorted[0]?.[0] ?? NaN, seen: sorted.map(([v, n]) => `${v} ×${n}`).join(', ') };
}

const order = (items: number) => ({
  currency: 'EUR',
  items: Array.from({ length: items }, (_, i) => ({ sku: `SKU-${i}`, name: `Item ${i}`, unitPrice: 1_299 + i, quantity: 1 + (i % 3) })),
});

async function inject(app: App, token: string, method: 'GET' | 'POST', url: string, payload?: object): Promise<{ nextCursor?: string | null }> {
  const res = await app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, payload });
  if (res.statusCode !== (method === 'POST' ? 201 : 200)) throw new Error(`${method} ${url} answered ${res.statusCode}: ${res.body}`);
  return res.json();
}

/** The page's URL, its cursor taken by walking the list as a client would, 100 at a time. */
async function pageUrl(app: App, token: string, after: number, status?: string): Promise<string> {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE), ...(status ? { status } : {}) });
  let cursor: string | null | undefined;
  for (let seen = 0; seen < after; seen += 100) {
    const walk = new URLSearchParams({ limit: '100', ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) });
    cursor = (await inject(app, token, 'GET', `/v1/orders?${walk}`)).nextCursor;
    if (!cursor) throw new Error(`the measured user's list ended before ${after} orders`);
  }
  if (cursor) query.set('cursor', cursor);
  return `/v1/orders?${query}`;
}

/** Exact counts: statements per create, and statements and rows per list page. */
export async function appFigures(b: BenchApp, runs: number): Promise<AppFigures> {
  const writer = b.token(randomUUID());
  const create = (items: number) => counted(b.app, runs, () => inject(b.app, writer, 'POST', '/v1/orders', order(items)));
  const statementsPerCreate = { '1 item': (await create(1)).statements, '100 items': (await create(100)).statements };
  const perPage = {} as AppFigures['perPage'];
  for (const [name, op] of Object.entries(await pageOps(b)) as [PageName, () => Promise<unknown>][]) perPage[name] = await counted(b.app, runs, op);
  return { statementsPerCreate, perPage };
}

/** A request for each page, as the measured user: counted above, timed by main. */
export async function pageOps(b: BenchApp): Promise<Record<PageName, () => Promise<unknown>>> {
  const token = b.token(MEASURED_USER);
  const ops = {} as Record<PageName, () => Promise<unknown>>;
  for (const page of PAGES) {
    const url = await pageUrl(b.app, token, page.after, 'status' in page ? page.status : undefined);
    ops[page.name] = () => inject(b.app, token, 'GET', url);
  }
  return ops;
}
