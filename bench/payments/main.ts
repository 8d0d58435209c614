/**
 * `npm run bench:payments`: payments per second end to end, through the four real processes
 * (user-service, order-service, payment-service, gateway-sandbox) over HTTP, at 1, 8 and 32
 * in flight. Each payment is an order create plus POST /v1/payments; the baselines, in the
 * same run at the same concurrency, are the sandbox's own POST /v1/charges and the order
 * create alone. After each level every order is read back: PAID at order-service, exactly
 * one succeeded charge at the sandbox. Writes bench/results/payments.md. Local only
 * (127.0.0.1), bounded to ten minutes, and not part of `npm test`.
 *
 * Tuning: BENCH_PAYMENTS (2000 per contender and level), BENCH_CONCURRENCY ("1,8,32"),
 * BENCH_USERS (20), MYSQL_ADMIN_URL (mysql://root@127.0.0.1:3306), BENCH_REDIS_URL
 * (default: a private redis-server on a free loopback port).
 */
import { createConnection } from 'mysql2/promise';
import { adminUrl } from '../orders/schema';
import { benchRedis } from '../redis/server';
import { chargeAtSandbox, chargesOf, createOrder, orderStatus, pay, signUp, type PlacedOrder } from './client';
import { closedLoop, inBatches, timed, type Outcome, type Run } from './load';
import { startPlatform, type Platform } from './platform';
import { checkMarkdown, goalsMarkdown, header, load, throughputMarkdown, type Check, type Level } from './report';
import { runBench, writeResults } from '../run';
import { envInt } from '../env';

const DEADLINE_MS = 10 * 60_000;
/** How long a level's orders may take to all read PAID before the bench stops waiting. */
const PAID_WAIT_MS = 15_000;

const COUNT = envInt('BENCH_PAYMENTS', 2_000);
const USERS = envInt('BENCH_USERS', 20);
const LEVELS = (process.env['BENCH_CONCURRENCY'] ?? '1,8,32').split(',').map((s) => {
  const v = Number(s);
  if (!Number.isInteger(v) || v < 1) throw new Error('BENCH_CONCURRENCY must be positive integers separated by commas');
  return v;
});

const closers: (() => Promise<unknown>)[] = [];
async function release(): Promise<void> {
  for (const close of closers.splice(0).reverse()) {
    await close().catch((err: unknown) => console.error(`cleanup: ${err instanceof Error ? err.message : String(err)}`));
  }
}

interface Paid extends PlacedOrder {
  token: string;
}

/** The three contenders at one concurrency; the payments' orders are kept to be read back. */
function contenders(p: Platform, tokens: string[], paid: Paid[]): Record<'payments' | 'orderCreates' | 'sandboxCharges', (i: number) => Promise<Outcome>> {
  const tokenOf = (i: number) => tokens[i % tokens.length] as string;
  return {
    sandboxCharges: () => timed('charge', () => chargeAtSandbox(p.sandbox.url)),
    orderCreates: (i) =>
      timed('create', async () => {
        await createOrder(p.orders.url, tokenOf(i));
        return { ok: true, why: '' };
      }),
    payments: async (i) => {
      const token = tokenOf(i);
      const t0 = performance.now();
      const order = await createOrder(p.orders.url, token);
      const t1 = performance.now();
      const result = await pay(p.payments.url, token, order.id);
      const t2 = performance.now();
      if (result.ok) paid.push({ ...order, token });
      return { ...result, timings: { create: t1 - t0, pay: t2 - t1 } };
    },
  };
}

/** How many of the last answered payments are watched for the event lag; polling more would measure the polling. */
const WATCHED = 32;

/**
 * From the level's last answer until the last WATCHED orders paid read PAID: events are
 * relayed and consumed in order, so those are the last to move. Null if it takes over PAID_WAIT_MS.
 */
async function drainMs(p: Platform, paid: Paid[], lastAnswerAt: number): Promise<number | null> {
  let watched = paid.slice(-WATCHED);
  while (watched.length > 0) {
    if (performance.now() - lastAnswerAt > PAID_WAIT_MS) return null;
    const seen = await inBatches(watched, WATCHED, (o) => orderStatus(p.orders.url, o.token, o.id));
    watched = watched.filter((_, i) => seen[i] !== 'PAID');
    if (watched.length > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return performance.now() - lastAnswerAt;
}

/** Every order of the level read back once: its status at order-service, its charges at the sandbox. */
async function check(p: Platform, paid: Paid[], allPaidAfterMs: number | null): Promise<Check> {
  const seen = await inBatches(paid, 32, (o) => orderStatus(p.orders.url, o.token, o.id));
  const otherStatuses: Record<string, number> = {};
  for (const status of seen.filter((s) => s !== 'PAID')) otherStatuses[status] = (otherStatuses[status] ?? 0) + 1;
  const ledgers = await inBatches(paid, 32, (o) => chargesOf(p.sandbox.url, o.id));
  const ledgerExact = ledgers.filter((charges, i) => {
    const [only] = charges;
    return charges.length === 1 && only?.status === 'succeeded' && only.amount === paid[i]?.totalAmount && only.refundedAmount === 0;
  }).length;
  return { paid: paid.length, ordersPaid: seen.filter((s) => s === 'PAID').length, otherStatuses, allPaidAfterMs, ledgerExact };
}

async function level(p: Platform, tokens: string[], concurrency: number, turn: number): Promise<Level> {
  const paid: Paid[] = [];
  const ops = contenders(p, tokens, paid);
  const names = ['sandboxCharges', 'orderCreates', 'payments'] as const;
  const runs = {} as Record<(typeof names)[number], Run>;
  let drained: number | null = null;
  for (let k = 0; k < names.length; k++) {
    const name = names[(k + turn) % names.length] as (typeof names)[number];
    runs[name] = await closedLoop(COUNT, concurrency, ops[name]);
    // Wait for the events here, so that the next contender does not share the machine with their backlog.
    if (name === 'payments') drained = await drainMs(p, paid, performance.now());
  }
  const result = { concurrency, ...runs, check: await check(p, paid, drained) };
  console.log(
    `${concurrency} in flight: ${runs.payments.perSecond.toFixed(0)} payments/s, ${runs.orderCreates.perSecond.toFixed(0)} order creates/s, ` +
      `${runs.sandboxCharges.perSecond.toFixed(0)} sandbox charges/s; ${runs.payments.succeeded}/${COUNT} succeeded, ${result.check.ordersPaid} PAID`,
  );
  return result;
}

async function mariadbVersion(): Promise<string> {
  const conn = await createConnection({ uri: adminUrl().toString() });
  try {
    const [rows] = (await conn.query('SELECT VERSION() AS v')) as unknown as [{ v: string }[]];
    return (rows[0]?.v ?? 'unknown').replace(/-MariaDB.*$/, '');
  } finally {
    await conn.end();
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadAtStart = load();
  const run = Date.now().toString(36);
  try {
    const redis = await benchRedis();
    closers.push(() => redis.stop());
    const p = await startPlatform(redis.url, run, (close) => closers.push(close));
    console.log(`platform up: ${p.schemas.join(', ')}; ${COUNT} per contender at ${LEVELS.join(', ')} in flight`);
    const tokens = await inBatches([...Array(USERS).keys()], 4, (i) => signUp(p.users.url, run, i));
    // Warm-up of every process (JIT, pools, prepared statements); not counted.
    await closedLoop(200, 8, contenders(p, tokens, []).payments);

    const levels: Level[] = [];
    for (const [turn, concurrency] of LEVELS.entries()) levels.push(await level(p, tokens, concurrency, turn));

    const report = [
      header(await mariadbVersion(), performance.now() - started, USERS, COUNT, loadAtStart),
      throughputMarkdown(levels),
      checkMarkdown(levels),
      goalsMarkdown(levels),
    ].join('\n\n');
    writeResults('payments.md', report);
  } finally {
    await release();
  }
}

runBench('bench:payments', DEADLINE_MS, main, release);
