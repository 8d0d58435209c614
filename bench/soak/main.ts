/**
 * `npm run soak`: the platform under a steady mixed load for half an hour, to see whether any
 * process keeps growing. Starts the built apps as the e2e harness does, signs up users, then
 * sends SOAK_RATE requests a second (sign-ups, logins, order creates, cached order reads,
 * payments, refunds, cancels, …: mix.ts) while it samples every process every
 * SOAK_SAMPLE_SECONDS: resident memory and CPU from /proc, heap and event-loop lag from the
 * apps' /metrics. Prints the trend and writes bench/results/soak.md. Exits 1 when any answer
 * was not the route's expected status or a process crashed (the report is written anyway).
 * Local only (127.0.0.1), not part of `npm test` or `npm run bench`.
 *
 * Tuning: SOAK_RATE (150 requests/s), SOAK_MINUTES (30), SOAK_INSTANCES (1 of each service),
 * SOAK_SAMPLE_SECONDS (10), SOAK_USERS (50, signed up first), SOAK_NODE_OPTIONS (NODE_OPTIONS
 * of the apps, e.g. `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=tmp`),
 * MYSQL_ADMIN_URL (mysql://root@127.0.0.1:3306), BENCH_REDIS_URL (default: a private redis-server).
 */
import { spawnSync } from 'node:child_process';
import { sleep } from '../../e2e/src/processes';
import { serverProcesses } from '../cpu/proc';
import { load as loadAverage } from '../cpu/report';
import { Probe } from '../http/counters';
import { startPlatform } from '../http/platform';
import { adminUrl } from '../orders/schema';
import { benchRedis } from '../redis/server';
import { fmt } from '../redis/measure';
import { runBench, writeResults } from '../run';
import { Load } from './load';
import { Mix } from './mix';
import { reportMarkdown, unexpected, type SoakInfo } from './report';
import { Sampler, type Observed } from './sampler';
import { envInt } from '../env';

const RATE = envInt('SOAK_RATE', 150);
const MINUTES = envInt('SOAK_MINUTES', 30);
const INSTANCES = envInt('SOAK_INSTANCES', 1);
const SAMPLE_S = envInt('SOAK_SAMPLE_SECONDS', 10);
const USERS = envInt('SOAK_USERS', 50);
/** Requests open at once beyond which the harness skips (and counts) the next ones rather than piling them up. */
const MAX_IN_FLIGHT = Math.max(200, RATE * 5);

const closers: (() => Promise<unknown>)[] = [];
const cleanup = (close: () => Promise<unknown>) => void closers.push(close);
async function release(): Promise<void> {
  for (const close of closers.splice(0).reverse()) {
    await close().catch((err: unknown) => console.error(`cleanup: ${err instanceof Error ? err.message : String(err)}`));
  }
}

/** The command as run, with the SOAK_ settings given. */
function command(): string {
  const given = Object.keys(process.env).filter((k) => k.startsWith('SOAK_')).sort();
  return `${given.map((k) => `${k}=${process.env[k]} `).join('')}npm run soak`;
}

/** The named network namespace the soak runs in (`ip netns`), if any: then it has its own loopback and servers. */
function networkNamespace(): string | undefined {
  const found = spawnSync('ip', ['netns', 'identify', String(process.pid)], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() || undefined : undefined;
}

function progress(sampler: Sampler, load: Load, t: number): void {
  const sent = [...load.routes.values()].reduce((s, c) => s + c.sent, 0);
  const last = sampler.samples.at(-1);
  const per = [...(last?.figures ?? [])].map(([name, f]) => `${name} ${fmt(f.rssMb)} MB${f.heapUsedMb ? ` heap ${fmt(f.heapUsedMb)} lag p99 ${fmt(f.lagP99Ms ?? NaN, 1)} ms` : ''}`);
  console.log(`${fmt(t / 60, 1)} min: ${fmt(sent)} sent, ${fmt(unexpected(load))} unexpected · ${per.join(' · ')}`);
}

async function main(): Promise<void> {
  const loadAtStart = loadAverage();
  const admin = adminUrl();
  const redis = await benchRedis();
  cleanup(() => redis.stop());
  const probe = await Probe.open(redis.url, admin.toString());
  const versions = { node: process.version, mariadb: await probe.mysqlVersion(), redis: await probe.redisVersion() };
  await probe.close();

  const nodeOptions = process.env['SOAK_NODE_OPTIONS'];
  const platform = await startPlatform(admin.toString(), redis.url, cleanup, {
    instances: INSTANCES,
    direct: INSTANCES === 1,
    env: nodeOptions ? { NODE_OPTIONS: nodeOptions } : {},
  });
  const servers = await serverProcesses(redis.url, admin.toString());
  const observed = (): Observed[] => [...platform.all.map((p) => ({ name: p.name, group: 'services' as const, pid: p.pid as number, url: p.url })), ...servers];
  console.log(`started: ${observed().map((p) => `${p.name} (pid ${p.pid})`).join(', ')}`);

  const mix = new Mix(platform.topology());
  await mix.seed(USERS);
  const sampler = new Sampler(observed);
  await sampler.reset();
  await sleep(SAMPLE_S * 1000);
  await sampler.sample(0);

  const load = new Load(mix, RATE, MAX_IN_FLIGHT);
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  let stopped = false;
  const sampling = (async () => {
    for (let n = 1; !stopped; n++) {
      await sleep(Math.max(0, n * SAMPLE_S * 1000 - (performance.now() - t0)));
      if (stopped) break;
      if (platform.crashes().length > 0) break;
      await sampler.sample(elapsed());
      if (n % Math.max(1, Math.round(60 / SAMPLE_S)) === 0) progress(sampler, load, elapsed());
    }
  })();
  const result = await load.run(() => elapsed() >= MINUTES * 60 || platform.crashes().length > 0);
  stopped = true;
  await sampling;
  if (platform.crashes().length === 0) await sampler.sample(elapsed());

  const problems = await platform.stop();
  const info: SoakInfo = {
    date: new Date().toISOString().slice(0, 10),
    command: command(),
    namespace: networkNamespace(),
    rate: RATE,
    minutes: MINUTES,
    instances: INSTANCES,
    sampleSeconds: SAMPLE_S,
    versions,
    privateRedis: redis.private,
    loadAtStart,
    problems,
  };
  const names = observed().map((p) => p.name);
  writeResults('soak.md', reportMarkdown(info, result, sampler.samples, names));
  if (problems.length > 0 || unexpected(result) > 0) {
    console.error(`soak: ${fmt(unexpected(result))} unexpected answers, ${problems.length} process problems`);
    process.exitCode = 1;
  }
}

runBench('soak', (MINUTES * 60 + 900) * 1000, () => main().finally(release), release);
