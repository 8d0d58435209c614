/**
 * `npm run bench:compare`: what a request costs on the platform against what it costs the
 * references, all run interleaved in the same run on the same MariaDB and Redis: CPU-µs per
 * request of every process involved (from /proc), req/s, SQL statements, Redis commands and
 * internal HTTP calls per request, the load average, and the platform's ratio to each
 * reference (the median of the rounds' ratios); then a pass/miss line for each goal
 * (goals.ts). Scenarios: a cached GET /v1/orders/{id} (platform, bare Fastify, bare Fastify
 * reading its answer with one Redis GET, usual recipe, tuned recipe), POST /v1/orders with 1
 * and with 20 items (platform, usual, tuned), and a payment end to end at each
 * BENCH_PAY_CONCURRENCY (platform, essential-work reference, its order read; their rates end
 * to end, until the orders read PAID). bench:cpu's machinery (rounds.ts, proc.ts) does the measuring. Writes
 * bench/results/compare.md; exits 1 without writing it if wrk counted any non-2xx answer or
 * socket error. About 12 minutes with the defaults; not part of `npm test`.
 *
 * Tuning: BENCH_SCENARIOS (hit,create1,create20,pay), BENCH_PAY_CONCURRENCY (8,32), BENCH_ROUNDS (3),
 * BENCH_ROUND_SECONDS (10), BENCH_WARMUP_SECONDS (5), BENCH_THREADS (2), BENCH_CONNECTIONS (32),
 * MYSQL_ADMIN_URL (mysql://root@127.0.0.1:3306), BENCH_REDIS_URL (default: a private redis-server).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { idleRate, Probe, settle } from '../http/counters';
import { ensureWrk } from '../http/wrk';
import { adminUrl } from '../orders/schema';
import { benchRedis } from '../redis/server';
import { runBench, writeResults } from '../run';
import { buildThis } from '../cpu/builds';
import { startContender } from '../cpu/contenders';
import { serverProcesses } from '../cpu/proc';
import { Rounds, type RoundSettings } from '../cpu/rounds';
import { startReference } from './contenders';
import { BARE, ESSENTIAL, ESSENTIAL_PLUS_READ, evaluate, FLOOR, PLATFORM, TUNED, USUAL } from './goals';
import { figuresOf, goalLines, reportMarkdown, type CompareInfo, type Scenario } from './report';
import { create, hit, payments, type Contenders } from './scenarios';
import { envInt } from '../env';

const SETTINGS: RoundSettings = {
  rounds: envInt('BENCH_ROUNDS', 3),
  warmupSeconds: envInt('BENCH_WARMUP_SECONDS', 5),
  wrk: { threads: envInt('BENCH_THREADS', 2), connections: envInt('BENCH_CONNECTIONS', 32), seconds: envInt('BENCH_ROUND_SECONDS', 10) },
  restart: false,
};
const KNOWN = ['hit', 'create1', 'create20', 'pay'];
const CHOSEN = (process.env['BENCH_SCENARIOS'] ?? KNOWN.join(',')).split(',').map((s) => s.trim());
for (const s of CHOSEN) if (!KNOWN.includes(s)) throw new Error(`BENCH_SCENARIOS: unknown scenario "${s}" (${KNOWN.join(', ')})`);
const PAY_CONCURRENCY = (process.env['BENCH_PAY_CONCURRENCY'] ?? '8,32').split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < SETTINGS.wrk.threads) throw new Error(`BENCH_PAY_CONCURRENCY: ${s} is not a whole number of at least BENCH_THREADS`);
  return n;
});
const USERS = 8;
const IDLE_MS = 5_000;
/** Redis commands per second below which everything idle counts as settled. */
const QUIET = 120;
const ENTRIES = (CHOSEN.includes('hit') ? 5 : 0) + (CHOSEN.includes('create1') ? 3 : 0) + (CHOSEN.includes('create20') ? 3 : 0) + (CHOSEN.includes('pay') ? 3 * PAY_CONCURRENCY.length : 0);
/** Every warm-up and round with half a minute to spare, and 15 minutes for the build, start-up and seeding. */
const DEADLINE_MS = (ENTRIES * (SETTINGS.warmupSeconds + 30 + SETTINGS.rounds * (SETTINGS.wrk.seconds + 30)) + 900) * 1000;

const closers: (() => Promise<unknown>)[] = [];
const cleanup = (close: () => Promise<unknown>) => void closers.push(close);
async function release(): Promise<void> {
  for (const close of closers.splice(0).reverse()) {
    await close().catch((err: unknown) => console.error(`cleanup: ${err instanceof Error ? err.message : String(err)}`));
  }
}

async function measureAll(): Promise<{ info: Omit<CompareInfo, 'runSeconds' | 'loadAtEnd'>; scenarios: Scenario[] }> {
  const loadAtStart = loadavg()[0] ?? NaN;
  const wrk = ensureWrk();
  const admin = adminUrl();
  const dir = mkdtempSync(join(tmpdir(), 'bench-compare-'));
  cleanup(async () => rmSync(dir, { recursive: true, force: true }));
  const redis = await benchRedis();
  cleanup(() => redis.stop());
  const probe = await Probe.open(redis.url, admin.toString());
  cleanup(() => probe.close());
  const servers = await serverProcesses(redis.url, admin.toString());

  console.log('building the working tree');
  const build = buildThis(cleanup);
  const platform = await startContender(build, admin, redis.url, USERS, dir, cleanup);
  platform.label = PLATFORM;
  const refOpts = { admin, redisUrl: redis.url, cleanup };
  const c: Contenders = {
    platform,
    usual: await startReference('usual-recipe.ts', USUAL, platform, refOpts),
    tuned: await startReference('usual-recipe.ts', TUNED, platform, { ...refOpts, tuned: true }),
    essential: await startReference('essential-payment.ts', ESSENTIAL, platform, refOpts),
    redisUrl: redis.url,
  };
  if (!(await settle(probe, QUIET, 60_000))) console.warn(`Redis stayed busier than ${QUIET} commands/s for a minute; measuring anyway`);
  const idle = await idleRate(probe, IDLE_MS);

  const rounds = new Rounds(SETTINGS, servers, probe, idle);
  const ctx = { dir, rounds: SETTINGS.rounds, roundSeconds: SETTINGS.wrk.seconds, warmupSeconds: SETTINGS.warmupSeconds, cleanup };
  const scenarios: Scenario[] = [];
  if (CHOSEN.includes('hit')) scenarios.push({ key: 'hit', outcome: await rounds.run('GET /v1/orders/{id}, cache hit', await hit(c, ctx)), references: [BARE, FLOOR, USUAL, TUNED] });
  for (const items of [1, 20]) {
    if (!CHOSEN.includes(`create${items}`)) continue;
    const name = `POST /v1/orders, ${items} item${items === 1 ? '' : 's'}`;
    scenarios.push({ key: `create${items}`, outcome: await rounds.run(name, create(c, ctx, items)), references: [USUAL, TUNED] });
  }
  if (CHOSEN.includes('pay')) {
    const at = await payments(c, ctx);
    for (const n of PAY_CONCURRENCY) {
      scenarios.push({ key: `pay${n}`, outcome: await rounds.run(`POST /v1/payments end to end, ${n} clients`, at(n)), references: [ESSENTIAL, ESSENTIAL_PLUS_READ] });
    }
  }
  const info = {
    date: new Date().toISOString().slice(0, 10),
    versions: { node: process.version, mariadb: await probe.mysqlVersion(), redis: await probe.redisVersion(), wrk },
    privateRedis: redis.private,
    loadAtStart,
    settings: SETTINGS,
    payConcurrency: PAY_CONCURRENCY,
    platform: build.description,
    users: USERS,
    idle,
  };
  return { info, scenarios };
}

async function main(): Promise<void> {
  const started = performance.now();
  let measured: Awaited<ReturnType<typeof measureAll>>;
  try {
    measured = await measureAll();
  } finally {
    await release();
  }
  const info: CompareInfo = { ...measured.info, runSeconds: (performance.now() - started) / 1000, loadAtEnd: loadavg()[0] ?? NaN };
  writeResults('compare.md', reportMarkdown(info, measured.scenarios));
  console.log(`\nGoals:\n${goalLines(evaluate(measured.scenarios.map(figuresOf))).join('\n')}`);
}

runBench('bench:compare', DEADLINE_MS, main, release);
