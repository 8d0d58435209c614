/**
 * `npm run bench:redis`: libs/redis's rate limiter against @fastify/rate-limit's Redis
 * store and rate-limiter-flexible's RateLimiterRedis, and the cache's hit path against a
 * bare GET. Throughput is noisy, so contenders run in interleaved rounds and are compared
 * by the median; round trips and commands per operation come from the server's own
 * counters and are exact. Writes bench/results/redis.md. Local only (127.0.0.1), bounded
 * to well under two minutes, and not part of `npm test`.
 *
 * Tuning: BENCH_ROUNDS (7), BENCH_ROUND_MS (1000; cache rounds take half), BENCH_REDIS_URL
 * (default: a private redis-server on a free loopback port).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createRedisClient } from '../../libs/redis/src/client';
import type { CacheResults } from './cache';
import type { LimiterResults } from './limiter';
import { benchRedis } from './server';
import { envInt } from '../env';

const ROOT = join(__dirname, '../..');
const RESULTS = join(ROOT, 'bench/results/redis.md');
const DEADLINE_MS = 110_000;

/**
 * The modules under test are separate files; say plainly which is missing rather than fail
 * on an import (hence the dynamic imports of the bench parts that load them).
 */
function requireModules(): void {
  const missing = ['rate-limiter.ts', 'cache.ts'].filter((f) => !existsSync(join(ROOT, 'libs/redis/src', f)));
  if (missing.length > 0) {
    throw new Error(`bench:redis measures libs/redis/src/${missing.join(' and ')}, which do(es) not exist yet. Nothing was measured.`);
  }
}

async function connect(url: string, connectionName: string): Promise<Redis> {
  // The request-path options every service uses (no offline queue, short timeouts), for every contender alike.
  const client = createRedisClient({ url, commandTimeoutMs: 2_000, connectionName }) as Redis;
  client.on('error', () => undefined);
  if (client.status !== 'ready') await new Promise((resolve, reject) => client.once('ready', resolve).once('end', reject));
  return client;
}

async function main(): Promise<void> {
  requireModules();
  const { benchLimiter, limiterMarkdown } = await import('./limiter.js');
  const { benchCache, cacheMarkdown } = await import('./cache.js');
  const rounds = envInt('BENCH_ROUNDS', 7);
  const roundMs = envInt('BENCH_ROUND_MS', 1_000);
  const limiterSettings = { rounds, roundMs, concurrency: 32, sequentialChecks: 2_000 };
  const cacheSettings = { rounds, roundMs: Math.ceil(roundMs / 2), sequentialChecks: 2_000 };

  const redis = await benchRedis();
  const clients: Redis[] = [];
  try {
    const open = async (name: string) => {
      const c = await connect(redis.url, name);
      clients.push(c);
      return c;
    };
    const probe = await open('bench-probe');
    const prefix = `bench:${Date.now().toString(36)}:`;
    console.log(`Redis ${await serverVersion(probe)} at ${redis.url}${redis.private ? ' (private)' : ''}; ${rounds} rounds of ${roundMs} ms`);
    const limiter = await benchLimiter(
      { ours: await open('bench-ours'), '@fastify/rate-limit': await open('bench-frl'), 'rate-limiter-flexible': await open('bench-rlf') },
      probe,
      `${prefix}rl:`,
      limiterSettings,
    );
    const cache = await benchCache(await open('bench-cache'), probe, `${prefix}cache:`, cacheSettings);
    const report = [
      header(await serverVersion(probe), redis.private),
      limiterMarkdown(limiter, limiterSettings),
      cacheMarkdown(cache, cacheSettings),
      goals(limiter, cache),
    ].join('\n\n');
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(RESULTS, `${report}\n`);
    console.log(`\n${report}\n\nWritten to bench/results/redis.md`);
    if (!redis.private) await deleteKeys(probe, prefix);
  } finally {
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    await redis.stop();
  }
}

async function serverVersion(probe: Redis): Promise<string> {
  return /redis_version:(\S+)/.exec((await probe.call('INFO', 'server')) as string)?.[1] ?? 'unknown';
}

/** On a shared server, leave nothing behind (every key has a TTL anyway). */
async function deleteKeys(probe: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await probe.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    cursor = next;
    if (keys.length > 0) await probe.del(...keys);
  } while (cursor !== '0');
}

function header(version: string, privateServer: boolean): string {
  const cpu = cpus();
  return [
    '## Redis layer benchmark (`npm run bench:redis`)',
    '',
    `${new Date().toISOString().slice(0, 10)} · Node ${process.version} · Redis ${version} on 127.0.0.1` +
      `${privateServer ? ' (a private redis-server the bench started)' : ''} · ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}.`,
    'Checks per second and microseconds depend on the machine and its load; round trips and commands are exact counts from',
    "the server's `INFO stats` (`total_reads_processed`, `total_commands_processed`) and `INFO commandstats` deltas.",
  ].join('\n');
}

function goals(l: LimiterResults, c: CacheResults): string {
  const allowed = l.allowedCounts.ours;
  const check = (ok: boolean) => (ok ? 'met' : '**not met**');
  const rows: [string, string, boolean][] = [
    ['one round trip per limiter check', `${allowed.roundTrips}`, allowed.roundTrips === 1],
    ['one script call per check, at most two commands inside it', `${allowed.scriptCalls} call, ${allowed.commands - allowed.scriptCalls} inside`, allowed.scriptCalls === 1 && allowed.commands - allowed.scriptCalls <= 2],
    ['≥ 1.1× @fastify/rate-limit checks/s', `${l.ratio['@fastify/rate-limit'].toFixed(2)}×`, l.ratio['@fastify/rate-limit'] >= 1.1],
    ['≥ 1.1× rate-limiter-flexible checks/s', `${l.ratio['rate-limiter-flexible'].toFixed(2)}×`, l.ratio['rate-limiter-flexible'] >= 1.1],
    ['a subject over its limit is denied without a round trip', `${l.deniedCounts.ours.roundTrips} round trips`, l.deniedCounts.ours.roundTrips === 0],
    ['cache hit (getOrLoad) ≤ 1.2× a bare GET', `${c.ratio['cache.getOrLoad (hit)'].toFixed(2)}×`, c.ratio['cache.getOrLoad (hit)'] <= 1.2],
  ];
  return ['### Goals', '', '| goal | measured | |', '| --- | --- | --- |', ...rows.map(([goal, measured, ok]) => `| ${goal} | ${measured} | ${check(ok)} |`)].join('\n');
}

const deadline = setTimeout(() => {
  console.error(`bench:redis did not finish within ${DEADLINE_MS / 1000} s; stopping.`);
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

main().then(
  () => clearTimeout(deadline),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
    clearTimeout(deadline);
  },
);
