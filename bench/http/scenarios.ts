import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Account } from '../../e2e/src/client';
import type { Platform } from '../../e2e/src/platform';
import { reSigned } from '../../e2e/src/tokens';
import type { Baseline } from './baseline';
import type { Probe } from './counters';
import { deepPagePath, MEASURED_USER, type ListData } from './lists';
import { pooledScript, staticScript } from './lua';
import { Runner, summary, type Outcome, type Settings, type Target } from './measure';
import { startOrderServiceOn, startPlatform, signUpUsers, urlOf, type Cleanup } from './platform';
import { deleteUsersData, growPool, POOL_ITEM, seedPool } from './pools';

/**
 * The seven scenarios of issue #8, in order (the reads first, so that the pools can be sized from what the
 * platform just did), and after the cache hit a reference: the floor of its one-command design (floor-server.ts).
 */

export interface Context {
  settings: Settings;
  admin: string;
  redisUrl: string;
  /** The run's temporary directory (Lua scripts, pool and token files). */
  dir: string;
  probe: Probe;
  lists: ListData[];
  users: number;
  cleanup: Cleanup;
  startBaseline(body: string): Promise<Baseline>;
  startFloor(body: string): Promise<Baseline>;
}

export interface Scenarios {
  outcomes: Outcome[];
  /** Errors outside the scenarios' rounds (the baseline's warm-up), and the processes' last lines when anything failed. */
  errors: string[];
  baselineBytes: number;
  pools: Record<string, number>;
}

/** The floor's row: not a route of the platform, but what the cache hit's design costs by itself. */
export const FLOOR_SCENARIO = 'reference: bare Fastify + the admission script';

export const orderBody = (items: number) =>
  JSON.stringify({ currency: 'EUR', items: Array.from({ length: items }, (_, i) => ({ ...POOL_ITEM, sku: `BENCH-${i + 1}`, name: `Bench item ${i + 1}` })) });

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const json = (token: string) => ({ ...bearer(token), 'Content-Type': 'application/json' });

/** An order of the first user, created and read twice (so it is cached): its path and the JSON a read answers. */
export async function cachedOrder(ordersUrl: string, user: Account): Promise<{ path: string; body: string }> {
  const created = await fetch(`${ordersUrl}/v1/orders`, { method: 'POST', headers: json(user.accessToken), body: orderBody(1) });
  if (created.status !== 201) throw new Error(`POST /v1/orders answered ${created.status}: ${await created.text()}`);
  const path = `/v1/orders/${((await created.json()) as { id: string }).id}`;
  let body = '';
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${ordersUrl}${path}`, { headers: bearer(user.accessToken) });
    body = await res.text();
    if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${body}`);
  }
  return { path, body };
}

/** What every scenario runs against: the platform, its users, the cached order and the baseline. */
interface Stage {
  platform: Platform;
  users: Account[];
  tokensFile: string;
  ordersUrl: string;
  hit: { path: string; body: string };
  runner: Runner;
  /** The baseline's warm-up's. */
  errors: string[];
}

async function stage(ctx: Context): Promise<Stage> {
  const platform = await startPlatform(ctx.admin, ctx.redisUrl, ctx.cleanup);
  const users = await signUpUsers(platform, ctx.users);
  ctx.cleanup(async () => {
    const started = performance.now();
    const deleted = await deleteUsersData(ctx.admin, users.map((u) => u.id));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`deleted the run's ${deleted.orders.toLocaleString('en-US')} orders and ${deleted.payments.toLocaleString('en-US')} payments in ${seconds} s`);
  });
  const tokensFile = join(ctx.dir, 'tokens.txt');
  writeFileSync(tokensFile, users.map((u) => `${u.accessToken}\n`).join(''));
  const ordersUrl = urlOf(platform, 'order-service');
  const hit = await cachedOrder(ordersUrl, users[0] as Account);
  const baseline = await ctx.startBaseline(hit.body);
  ctx.cleanup(() => baseline.stop());
  const runner = new Runner(ctx.settings, ctx.probe, { url: `${baseline.url}${hit.path}`, script: staticScript(ctx.dir, 'baseline', { method: 'GET', headers: {} }) });
  return { platform, users, tokensFile, ordersUrl, hit, runner, errors: await runner.warmUpBaseline() };
}

/**
 * Orders never served: enough for the warm-up at `ceiling` req/s (a rate the scenario cannot
 * beat), then topped up from the rate the warm-up saw, with room to spare (2.5×: the warm-up
 * runs colder than the rounds). A pool used up fails the run rather than repeat an entry.
 */
async function pooled(ctx: Context, owners: string[], file: string, ceiling: number, sizes: (size: number) => void): Promise<Required<Pick<Target, 'pool' | 'refill'>>> {
  const s = ctx.settings;
  const pool = await seedPool(ctx.admin, owners, Math.ceil(ceiling * s.warmupSeconds * 1.5) + 1_000, join(ctx.dir, `${file}.txt`));
  const refill = async (perSecond: number) => {
    const needed = pool.offset + Math.ceil(perSecond * s.rounds * s.wrk.seconds * 2.5) + 2_000;
    if (needed > pool.size) await growPool(ctx.admin, owners, pool, needed - pool.size);
    sizes(pool.size);
  };
  return { pool, refill };
}

export async function scenarios(ctx: Context): Promise<Scenarios> {
  const { dir } = ctx;
  const { platform, users, tokensFile, ordersUrl, hit, runner, errors } = await stage(ctx);
  const [user] = users as [Account];
  const owners = users.map((u) => u.id);
  const outcomes: Outcome[] = [];
  const pools: Record<string, number> = {};
  const measure = async (name: string, t: Target) => {
    console.log(name);
    const o = await runner.run(name, t);
    outcomes.push(o);
    return summary(o).perSecond;
  };

  const hitRate = await measure('GET /v1/orders/{id}, cache hit', {
    url: `${ordersUrl}${hit.path}`,
    script: staticScript(dir, 'hit', { method: 'GET', headers: bearer(user.accessToken) }),
    rounds: ctx.settings.hitRounds,
  });
  const floor = await ctx.startFloor(hit.body);
  ctx.cleanup(() => floor.stop());
  await measure(FLOOR_SCENARIO, { url: `${floor.url}${hit.path}`, script: staticScript(dir, 'floor', { method: 'GET', headers: {} }), rounds: ctx.settings.hitRounds });
  // A miss does all a hit does, and more.
  const unread = await pooled(ctx, owners, 'miss', hitRate, (n) => (pools['cache miss'] = n));
  const missRate = await measure('GET /v1/orders/{id}, cache miss', {
    url: ordersUrl,
    script: pooledScript(dir, 'miss', { kind: 'read', poolFile: unread.pool.file, tokensFile }),
    ...unread,
  });
  for (const list of ctx.lists) await measureList(platform, list, user, measure, dir);
  for (const items of [1, 100]) {
    await measure(`POST /v1/orders, ${items} item${items === 1 ? '' : 's'}`, {
      url: `${ordersUrl}/v1/orders`,
      script: staticScript(dir, `create-${items}`, { method: 'POST', headers: json(user.accessToken), body: orderBody(items) }),
    });
  }
  // Every payment reads its order, never read before, at the same order-service: a miss there.
  const payable = await pooled(ctx, owners, 'pay', missRate, (n) => (pools['payments'] = n));
  await measure('POST /v1/payments, end to end', {
    url: urlOf(platform, 'payment-service'),
    script: pooledScript(dir, 'pay', { kind: 'pay', poolFile: payable.pool.file, tokensFile, keyPrefix: `bench-${Date.now().toString(36)}-` }),
    ...payable,
  });
  if (errors.length > 0 || outcomes.some((o) => o.errors.length > 0)) {
    for (const p of platform.all) errors.push(`${p.name}, its last lines:\n${p.output(15)}`);
  }
  return { outcomes, errors, baselineBytes: Buffer.byteLength(hit.body), pools };
}

/** The measured user's deep page, on an order-service of its own over the list's schema, started for this scenario only. */
async function measureList(platform: Platform, list: ListData, user: Account, measure: (name: string, t: Target) => Promise<number>, dir: string): Promise<void> {
  const instance = await startOrderServiceOn(platform, list.schema.url, list.label.toLowerCase());
  try {
    const token = reSigned(platform.topology(), user.accessToken, { sub: MEASURED_USER }) as string;
    const path = await deepPagePath(instance.url, token);
    await measure(`GET /v1/orders page, ${list.label} orders`, {
      url: `${instance.url}${path}`,
      script: staticScript(dir, `list-${list.label}`, { method: 'GET', headers: bearer(token) }),
    });
  } finally {
    const code = await instance.stop();
    if (code !== 0) console.error(`${instance.name} exited with ${code} on SIGTERM:\n${instance.output(20)}`);
  }
}
