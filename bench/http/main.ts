/**
 * `npm run bench:http`: requests per second, p50 and p99 of the platform's routes through the
 * built services over real HTTP with wrk, each scenario in rounds interleaved with a bare
 * Fastify app serving the same JSON (the baseline), and the Redis round trips, Redis
 * commands and SQL statements each request costs, from the servers' counters. Writes
 * bench/results/http.md and http.svg, and exits 1 without writing them if wrk counted any
 * non-2xx answer or socket error. Local only (127.0.0.1), about fifteen minutes, not part of
 * `npm test`. Installs Debian's wrk when it is missing and the bench runs as root.
 *
 * Tuning: BENCH_ROUNDS (3), BENCH_HIT_ROUNDS (7: the cache hit and its reference), BENCH_ROUND_SECONDS (10), BENCH_WARMUP_SECONDS (5),
 * BENCH_THREADS (2), BENCH_CONNECTIONS (32), BENCH_ORDERS (1000000: the large list),
 * BENCH_KEEP=1 (keep the list schemas, so the next run need not seed them),
 * MYSQL_ADMIN_URL (mysql://root@127.0.0.1:3306).
 */
import { startRedisServer } from '@platform/testing';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../e2e/src/processes';
import { adminUrl } from '../orders/schema';
import { median } from '../redis/measure';
import { runBench, writeResults } from '../run';
import { startBaseline, startFloor } from './baseline';
import { barChart } from './chart';
import { Probe } from './counters';
import { SMALL, seedList, type ListData } from './lists';
import { summary, type Outcome, type Settings } from './measure';
import { load, reportMarkdown, type RunInfo } from './report';
import { scenarios } from './scenarios';
import { ensureWrk } from './wrk';
import { envInt } from '../env';

const SETTINGS: Settings = {
  rounds: envInt('BENCH_ROUNDS', 3),
  hitRounds: envInt('BENCH_HIT_ROUNDS', 7),
  warmupSeconds: envInt('BENCH_WARMUP_SECONDS', 5),
  idleMs: 2_000,
  wrk: { threads: envInt('BENCH_THREADS', 2), connections: envInt('BENCH_CONNECTIONS', 32), seconds: envInt('BENCH_ROUND_SECONDS', 10) },
};
const LARGE = envInt('BENCH_ORDERS', 1_000_000, SMALL + 1);
const USERS = 8;
/** Eight scenarios (seven and the floor, two of them of hitRounds) of rounds twice as long as their wrk runs (with the baseline's), plus ten minutes for the rest. */
const ROUNDS = 6 * SETTINGS.rounds + 2 * SETTINGS.hitRounds;
const DEADLINE_MS = (ROUNDS * 2 * (SETTINGS.wrk.seconds + 3) + 8 * (SETTINGS.warmupSeconds + 20) + 600) * 1000;

const closers: (() => Promise<unknown>)[] = [];
async function release(): Promise<void> {
  for (const close of closers.splice(0).reverse()) {
    await close().catch((err: unknown) => console.error(`cleanup: ${err instanceof Error ? err.message : String(err)}`));
  }
}

function git(...args: string[]): string {
  return spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
}

async function listData(): Promise<ListData[]> {
  const lists = [await seedList(SMALL), await seedList(LARGE)];
  if (process.env['BENCH_KEEP'] !== '1') for (const l of lists) closers.push(() => l.schema.drop());
  else closers.push(async () => console.log(`Kept ${lists.map((l) => l.schema.name).join(' and ')} (BENCH_KEEP=1)`));
  return lists;
}

function chart(info: RunInfo, outcomes: Outcome[]): string {
  const base = median(outcomes.flatMap((o) => o.baselines.map((b) => b.perSecond)));
  const s = info.settings;
  return barChart(
    'Requests per second through the built services (npm run bench:http)',
    `${info.date} · medians of ${s.rounds} round${s.rounds === 1 ? '' : 's'} of ${s.wrk.seconds} s (${s.hitRounds} for the cache hit and the reference) · wrk -t ${s.wrk.threads} -c ${s.wrk.connections} · the machine of bench/results/http.md`,
    [
      { label: 'baseline: bare Fastify, same JSON', perSecond: base, baseline: true },
      ...outcomes.map((o) => ({ label: o.name, perSecond: summary(o).perSecond, note: `${summary(o).ratio.toFixed(2)}× baseline` })),
    ],
  );
}

/** Everything measured, the run's resources left to release(). */
async function measureAll(): Promise<{ info: RunInfo; outcomes: Outcome[]; errors: string[] }> {
  const loadAtStart = load();
  const wrk = ensureWrk();
  // What is built is the working tree: the commit, and any uncommitted change to the apps' sources.
  const commit = git('rev-parse', '--short', 'HEAD');
  const dirty = git('status', '--porcelain', '--', 'apps', 'libs', 'migrations')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
  const admin = adminUrl().toString();
  const dir = mkdtempSync(join(tmpdir(), 'bench-http-'));
  closers.push(async () => rmSync(dir, { recursive: true, force: true }));
  const redis = await startRedisServer();
  closers.push(() => redis.stop());
  const lists = await listData();
  const probe = await Probe.open(redis.url, admin);
  closers.push(() => probe.close());
  const cleanup = (close: () => Promise<unknown>) => closers.push(close);

  const run = await scenarios({
    settings: SETTINGS,
    admin,
    redisUrl: redis.url,
    dir,
    probe,
    lists,
    users: USERS,
    cleanup,
    startBaseline,
    startFloor: (body) => startFloor(body, redis.url),
  });
  const info: RunInfo = {
    date: new Date().toISOString().slice(0, 10),
    versions: { node: process.version, mariadb: await probe.mysqlVersion(), redis: await probe.redisVersion(), wrk },
    commit,
    dirty,
    loadAtStart,
    runSeconds: 0,
    settings: SETTINGS,
    baselineBytes: run.baselineBytes,
    lists,
    pools: run.pools,
    users: USERS,
  };
  return { info, outcomes: run.outcomes, errors: run.outcomes.flatMap((o) => o.errors).concat(run.errors) };
}

async function main(): Promise<void> {
  const started = performance.now();
  let measured: Awaited<ReturnType<typeof measureAll>>;
  try {
    measured = await measureAll();
  } finally {
    await release();
  }
  const { info, outcomes, errors } = measured;
  info.runSeconds = (performance.now() - started) / 1000;
  const report = reportMarkdown(info, outcomes);
  if (errors.length > 0) {
    console.log(`\n${report}\n`);
    throw new Error(`wrk counted errors, so these figures measure failures; bench/results/http.* left as they were:\n${errors.join('\n')}`);
  }
  writeResults('http.md', report);
  writeFileSync(join(ROOT, 'bench/results/http.svg'), `${chart(info, outcomes)}\n`);
  console.log('Written to bench/results/http.svg');
}

runBench('bench:http', DEADLINE_MS, main, release);
