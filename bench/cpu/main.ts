/**
 * `npm run bench:cpu`: the CPU each request costs the whole platform (its four processes,
 * Redis and MariaDB, from /proc) beside req/s, for two builds side by side: A, a git ref
 * (BENCH_BASE_REF, default HEAD), and B, the working tree. Three paths: a cached order read,
 * an order create (1 item; 20 items on request), and a payment end to end (until its order
 * reads PAID). A and B take turns, round by round, on the same servers; B ÷ A is taken per round. Writes
 * bench/results/cpu.md, and exits 1 without writing it if wrk counted any non-2xx answer or
 * socket error. Local only (127.0.0.1), about 8 minutes, not part of `npm run bench`.
 *
 * Tuning: BENCH_BASE_REF (HEAD), BENCH_SCENARIOS (hit,create,pay; create20 on request), BENCH_ROUNDS (5), BENCH_ROUND_SECONDS (10),
 * BENCH_WARMUP_SECONDS (5), BENCH_THREADS (2), BENCH_CONNECTIONS (32), BENCH_RESTART=1 (fresh
 * processes of both builds, and a warm-up, before every round pair: about twice as long),
 * MYSQL_ADMIN_URL (mysql://root@127.0.0.1:3306), BENCH_REDIS_URL (default: a private
 * redis-server on a free loopback port).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../../e2e/src/processes';
import { idleRate, Probe, settle } from '../http/counters';
import { ensureWrk } from '../http/wrk';
import { adminUrl } from '../orders/schema';
import { benchRedis } from '../redis/server';
import { runBench, writeResults } from '../run';
import { buildBase, buildThis } from './builds';
import { startContender, type Contender } from './contenders';
import { cpuBetween, cpuNow, serverProcesses, type Watched } from './proc';
import { load, reportMarkdown, type RunInfo } from './report';
import { Rounds, type Entry, type Outcome, type RoundSettings } from './rounds';
import { SCENARIOS } from './scenarios';
import { envInt } from '../env';

const SETTINGS: RoundSettings = {
  rounds: envInt('BENCH_ROUNDS', 5),
  warmupSeconds: envInt('BENCH_WARMUP_SECONDS', 5),
  wrk: { threads: envInt('BENCH_THREADS', 2), connections: envInt('BENCH_CONNECTIONS', 32), seconds: envInt('BENCH_ROUND_SECONDS', 10) },
  restart: process.env['BENCH_RESTART'] === '1',
};
const BASE_REF = process.env['BENCH_BASE_REF'] || 'HEAD';
/** BENCH_SCENARIOS: a comma-separated subset of hit, create, create20 and pay (hit, create and pay by default). */
const SCENARIO_KEYS = { hit: 0, create: 1, create20: 2, pay: 3 } as const;
const chosen = (process.env['BENCH_SCENARIOS'] ?? 'hit,create,pay').split(',').map((key) => {
  const at = SCENARIO_KEYS[key.trim() as keyof typeof SCENARIO_KEYS];
  if (at === undefined) throw new Error(`BENCH_SCENARIOS: unknown scenario "${key}" (${Object.keys(SCENARIO_KEYS).join(', ')})`);
  return SCENARIOS[at] as (typeof SCENARIOS)[number];
});
const USERS = 8;
/** Both platforms left alone this long, to learn what they and the servers do anyway. */
const IDLE_MS = 5_000;
/** Redis commands per second below which the two idle platforms count as settled (they do about 40). */
const QUIET = 120;
/** Every round and warm-up with half a minute to spare (the payments' events, restarts), and 15 minutes for builds and start-up. */
const WARM_UPS = SETTINGS.restart ? SETTINGS.rounds : 1;
const DEADLINE_MS = (SCENARIOS.length * 2 * (WARM_UPS * (SETTINGS.warmupSeconds + 30) + SETTINGS.rounds * (SETTINGS.wrk.seconds + 30)) + 900) * 1000;

const closers: (() => Promise<unknown>)[] = [];
const cleanup = (close: () => Promise<unknown>) => void closers.push(close);
async function release(): Promise<void> {
  for (const close of closers.splice(0).reverse()) {
    await close().catch((err: unknown) => console.error(`cleanup: ${err instanceof Error ? err.message : String(err)}`));
  }
}

/** CPU milliseconds per second of each build's four processes and of each server, all left alone. */
async function idleCpu(contenders: Contender[], servers: Watched[], ms: number): Promise<Record<string, number>> {
  const groups: [string, Watched[]][] = [...contenders.map((c) => [`build ${c.build.label}'s processes`, c.processes()] as [string, Watched[]]), ...servers.map((s) => [s.name, [s]] as [string, Watched[]])];
  const before = groups.map(([, ps]) => cpuNow(ps));
  await sleep(ms);
  return Object.fromEntries(groups.map(([name, ps], i) => [name, [...cpuBetween(before[i] as Map<string, number>, cpuNow(ps)).values()].reduce((s, us) => s + us, 0) / ms]));
}

async function measureAll(): Promise<{ info: Omit<RunInfo, 'runSeconds'>; outcomes: Outcome[] }> {
  const loadAtStart = load();
  const wrk = ensureWrk();
  const admin = adminUrl();
  const dir = mkdtempSync(join(tmpdir(), 'bench-cpu-'));
  cleanup(async () => rmSync(dir, { recursive: true, force: true }));
  const redis = await benchRedis();
  cleanup(() => redis.stop());
  const probe = await Probe.open(redis.url, admin.toString());
  cleanup(() => probe.close());
  const servers = await serverProcesses(redis.url, admin.toString());

  console.log(`building A (${BASE_REF}) and B (the working tree)`);
  const builds = [buildBase(BASE_REF, cleanup), buildThis(cleanup)];
  const contenders: Contender[] = [];
  for (const build of builds) contenders.push(await startContender(build, admin, redis.url, USERS, dir, cleanup));
  if (!(await settle(probe, QUIET, 60_000))) console.warn(`Redis stayed busier than ${QUIET} commands/s for a minute; measuring anyway`);
  const idle = await idleRate(probe, IDLE_MS);

  const rounds = new Rounds(SETTINGS, servers, probe, idle);
  const ctx = { dir, rounds: SETTINGS.rounds, roundSeconds: SETTINGS.wrk.seconds, warmupSeconds: SETTINGS.warmupSeconds, cleanup };
  const outcomes: Outcome[] = [];
  for (const scenario of chosen) {
    const entries: Entry[] = [];
    for (const c of contenders) {
      c.assertUp();
      entries.push({ label: c.label, runner: c, target: await scenario.target(c, ctx) });
    }
    outcomes.push(await rounds.run(scenario.name, entries));
  }
  // Warm by now, as during the rounds (just after start-up, compiling and collecting still show),
  // and after a pause: the last round's own collecting is not idle work.
  await sleep(IDLE_MS);
  const idleCpuMs = await idleCpu(contenders, servers, IDLE_MS);
  const info = {
    date: new Date().toISOString().slice(0, 10),
    versions: { node: process.version, mariadb: await probe.mysqlVersion(), redis: await probe.redisVersion(), wrk },
    privateRedis: redis.private,
    loadAtStart,
    settings: SETTINGS,
    builds,
    users: USERS,
    idleCpu: idleCpuMs,
    idle,
  };
  return { info, outcomes };
}

async function main(): Promise<void> {
  const started = performance.now();
  let measured: Awaited<ReturnType<typeof measureAll>>;
  try {
    measured = await measureAll();
  } finally {
    await release();
  }
  const runSeconds = (performance.now() - started) / 1000;
  writeResults('cpu.md', reportMarkdown({ ...measured.info, runSeconds }, measured.outcomes));
}

runBench('bench:cpu', DEADLINE_MS, main, release);
