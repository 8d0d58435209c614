/**
 * `npm run bench:streams`: what live order-status streams (`GET /v1/orders/{id}/events`) cost one
 * order-service instance. Starts the built apps as the e2e harness does (one process each, peers
 * called directly), signs up BENCH_USERS users at user-service, creates BENCH_STREAMS orders
 * (BENCH_STREAMS / BENCH_USERS each, at most the contract's 10 streams per user) and measures:
 *
 * 1. memory per stream: order-service's RSS (/proc) and heap (its /metrics) with every stream
 *    open minus before opening them, each read after a full GC forced through the inspector;
 * 2. CPU of idle streams: utime + stime (/proc/<pid>/stat) of order-service, redis-server and
 *    mariadbd over windows of BENCH_WINDOW_SECONDS with every stream open and nothing changing,
 *    interleaved with windows of 0 streams (the baseline), BENCH_ROUNDS of each;
 * 3. delivery latency under that load: BENCH_CHANGES followed orders cancelled one after another,
 *    from each cancel's answer to its event on the stream.
 *
 * The streams are read by this process (one connection each, no agent); its own CPU is not
 * counted. Writes bench/results/streams.md. Local only (127.0.0.1), bounded to 15 minutes, not
 * part of `npm test`.
 *
 * Tuning: BENCH_STREAMS (1000), BENCH_USERS (100), BENCH_WINDOW_SECONDS (60), BENCH_ROUNDS (2),
 * BENCH_CHANGES (50), MYSQL_ADMIN_URL (mysql://root@127.0.0.1:3306), BENCH_REDIS_URL (default:
 * a private redis-server on a free loopback port).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sleep } from '../../e2e/src/processes';
import { cpuBetween, cpuNow, serverProcesses, type Watched } from '../cpu/proc';
import { load as loadAverage } from '../cpu/report';
import { Probe } from '../http/counters';
import { signUpUsers, startPlatform, urlOf } from '../http/platform';
import { adminUrl } from '../orders/schema';
import { benchRedis } from '../redis/server';
import { fmt } from '../redis/measure';
import { runBench, writeResults } from '../run';
import { RemoteGc } from './gc';
import { reportMarkdown, type CpuWindow, type Delivery, type Memory, type MemoryPair, type RunInfo } from './report';
import { OrderStream } from './stream';
import { envInt } from '../env';

const DEADLINE_MS = 15 * 60_000;
/** The contract's limit of open streams per user. */
const PER_USER_LIMIT = 10;

const STREAMS = envInt('BENCH_STREAMS', 1_000);
const USERS = envInt('BENCH_USERS', 100);
const WINDOW_S = envInt('BENCH_WINDOW_SECONDS', 60);
const ROUNDS = envInt('BENCH_ROUNDS', 2);
const CHANGES = Math.min(envInt('BENCH_CHANGES', 50), STREAMS);
if (Math.ceil(STREAMS / USERS) > PER_USER_LIMIT) throw new Error(`BENCH_STREAMS / BENCH_USERS must be at most ${PER_USER_LIMIT} (the streams a user may hold)`);

const closers: (() => Promise<unknown>)[] = [];
const cleanup = (close: () => Promise<unknown>) => void closers.push(close);
async function release(): Promise<void> {
  for (const close of closers.splice(0).reverse()) {
    await close().catch((err: unknown) => console.error(`cleanup: ${err instanceof Error ? err.message : String(err)}`));
  }
}

/** Runs `fn` over `items`, `width` at a time, in order. */
async function inBatches<T, R>(items: readonly T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...(await Promise.all(items.slice(i, i + width).map((item, k) => fn(item, i + k)))));
  return out;
}

/** `name value` lines of a Prometheus page (the first series of each name). */
async function metrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const found = new Map<string, number>();
  for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})? ([^\s]+)$/gm)) {
    if (!found.has(m[1] as string)) found.set(m[1] as string, Number(m[2]));
  }
  return found;
}

function rssKiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** The named network namespace the bench runs in (`ip netns`), if any: then MariaDB and Redis there are its own. */
function networkNamespace(): string | undefined {
  const found = spawnSync('ip', ['netns', 'identify', String(process.pid)], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() || undefined : undefined;
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadAtStart = loadAverage();
  const admin = adminUrl();
  const redis = await benchRedis();
  cleanup(() => redis.stop());
  const probe = await Probe.open(redis.url, admin.toString());
  const versions = { node: process.version, mariadb: await probe.mysqlVersion(), redis: await probe.redisVersion() };
  await probe.close();

  const platform = await startPlatform(admin.toString(), redis.url, cleanup, { direct: true });
  const orderUrl = urlOf(platform, 'order-service');
  const [orderProcess] = platform.processes['order-service'];
  const orderPid = orderProcess?.pid as number;
  const watched: Watched[] = [{ name: 'order-service', group: 'services', pid: orderPid }, ...(await serverProcesses(redis.url, admin.toString()))];
  console.log(`started: ${platform.all.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}; watching ${watched.map((w) => `${w.name} (pid ${w.pid})`).join(', ')}`);

  const accounts = await signUpUsers(platform, USERS);
  const perUser = Math.ceil(STREAMS / USERS);
  const owners = Array.from({ length: STREAMS }, (_, i) => accounts[Math.floor(i / perUser)] as (typeof accounts)[number]);
  const orderIds = await inBatches(owners, 16, async (account) => {
    const res = await fetch(`${orderUrl}/v1/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ currency: 'EUR', items: [{ sku: 'BENCH-1', name: 'Bench item', unitPrice: 1_999, quantity: 1 }] }),
    });
    const body = (await res.json()) as { id: string };
    if (res.status !== 201) throw new Error(`POST /v1/orders answered ${res.status}: ${JSON.stringify(body)}`);
    return body.id;
  });
  console.log(`${USERS} users, ${STREAMS} orders (${perUser} each)`);

  const gauge = async () => (await metrics(orderUrl)).get('order_streams_open') ?? NaN;
  const openAll = async (): Promise<OrderStream[]> => {
    const streams = orderIds.map((id, i) => new OrderStream(id, orderUrl, (owners[i] as (typeof accounts)[number]).accessToken));
    await inBatches(streams, 50, (s) => s.open());
    const open = await gauge();
    if (open !== STREAMS) throw new Error(`order_streams_open is ${open} with ${STREAMS} streams open`);
    return streams;
  };
  const closeAll = async (streams: OrderStream[]) => {
    for (const s of streams) s.close();
    const deadline = performance.now() + 20_000;
    while ((await gauge()) !== 0) {
      if (performance.now() > deadline) throw new Error(`order_streams_open is still ${await gauge()} 20 s after every stream was closed`);
      await sleep(200);
    }
  };

  const gc = new RemoteGc(orderPid);
  let gcForced = true;
  const memory = async (): Promise<Memory> => {
    if (!(await gc.collect())) gcForced = false;
    await sleep(1_000);
    const m = await metrics(orderUrl);
    return { rssKiB: rssKiB(orderPid), heapUsedKiB: (m.get('nodejs_heap_size_used_bytes') ?? NaN) / 1024, heapTotalKiB: (m.get('nodejs_heap_size_total_bytes') ?? NaN) / 1024, externalKiB: (m.get('nodejs_external_memory_bytes') ?? NaN) / 1024 };
  };
  const cpuWindow = async (streams: number, live: OrderStream[]): Promise<CpuWindow> => {
    await sleep(5_000);
    const comments0 = live.reduce((s, x) => s + x.comments, 0);
    const load0 = loadAverage();
    const a = cpuNow(watched);
    const t0 = performance.now();
    await sleep(WINDOW_S * 1000);
    const b = cpuNow(watched);
    const seconds = (performance.now() - t0) / 1000;
    const ended = live.filter((s) => s.ended).length;
    if (ended > 0) throw new Error(`${ended} streams ended during a quiet window`);
    return { streams, seconds, cpuUs: cpuBetween(a, b), heartbeats: live.reduce((s, x) => s + x.comments, 0) - comments0, load: [load0, loadAverage()] };
  };

  // Warm-up, not counted: every stream opened and closed once (JIT, pools, prepared statements, lease keys).
  await closeAll(await openAll());
  console.log('warm-up done');

  const windows: CpuWindow[] = [];
  const memories: MemoryPair[] = [];
  let delivery: Delivery | undefined;
  for (let round = 1; round <= ROUNDS; round++) {
    windows.push(await cpuWindow(0, []));
    const before = await memory();
    const streams = await openAll();
    await sleep(3_000);
    const withStreams = await memory();
    memories.push({ before, with: withStreams });
    windows.push(await cpuWindow(STREAMS, streams));
    const [b, w] = windows.slice(-2) as [CpuWindow, CpuWindow];
    const per = (x: CpuWindow) => [...x.cpuUs.values()].reduce((s, v) => s + v, 0) / x.seconds;
    console.log(
      `round ${round}: CPU ${fmt(per(b))} µs/s at 0 streams, ${fmt(per(w))} µs/s at ${STREAMS}; ` +
        `RSS +${fmt((withStreams.rssKiB - before.rssKiB) / STREAMS, 1)} KiB, heap +${fmt((withStreams.heapUsedKiB - before.heapUsedKiB) / STREAMS, 1)} KiB per stream`,
    );
    if (round === ROUNDS) delivery = await deliver(orderUrl, streams, owners.map((o) => o.accessToken));
    await closeAll(streams);
  }

  const info: RunInfo = {
    date: new Date().toISOString().slice(0, 10),
    versions,
    namespace: networkNamespace(),
    privateRedis: redis.private,
    streams: STREAMS,
    users: USERS,
    windowSeconds: WINDOW_S,
    rounds: ROUNDS,
    gcForced,
    loadAtStart,
    loadAtEnd: loadAverage(),
    runSeconds: (performance.now() - started) / 1000,
  };
  writeResults('streams.md', reportMarkdown(info, memories, windows, delivery as Delivery));
  const problems = await platform.stop();
  if (problems.length > 0) {
    console.error(`the platform's processes did not hold up:\n${problems.join('\n')}`);
    process.exitCode = 1;
  }
}

/**
 * CHANGES of the followed orders, spread over all users, cancelled one after another: from the
 * cancel's answer (and from its sending) to the CANCELLED event on its stream. Every other stream
 * stays open meanwhile.
 */
async function deliver(orderUrl: string, streams: OrderStream[], tokens: string[]): Promise<Delivery> {
  const step = Math.floor(streams.length / CHANGES);
  const fromAnswer: number[] = [];
  const fromSend: number[] = [];
  const load0 = loadAverage();
  for (let k = 0; k < CHANGES; k++) {
    const i = k * step;
    const stream = streams[i] as OrderStream;
    const t0 = performance.now();
    const res = await fetch(`${orderUrl}/v1/orders/${stream.orderId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${tokens[i]}` } });
    await res.arrayBuffer();
    const t1 = performance.now();
    if (res.status !== 200) throw new Error(`cancel of ${stream.orderId} answered ${res.status}`);
    const event = await stream.next(1, 5_000);
    if (event.status !== 'CANCELLED') throw new Error(`stream of ${stream.orderId} sent ${event.status} after the cancel`);
    fromAnswer.push(event.at - t1);
    fromSend.push(event.at - t0);
    await sleep(100);
  }
  const open = streams.filter((s) => !s.ended).length;
  return { changes: CHANGES, fromAnswer, fromSend, load: [load0, loadAverage()], openAfter: open };
}

runBench('bench:streams', DEADLINE_MS, () => main().finally(release), release);
