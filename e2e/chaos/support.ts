import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Client, ITEMS, ITEMS_TOTAL } from '../src/client';
import { infraFromEnv, type Infra } from '../src/infra';
import { checkOrders, pendingEvents, storageProblems, type Tracked } from '../src/invariants';
import { Platform, type PlatformOptions } from '../src/platform';
import { sleep, type AppName } from '../src/processes';

/**
 * What every chaos file shares: its own platform on the suite's own MariaDB and Redis, a
 * workload of paying clients, the invariants, and the figures each scenario reports.
 */

/** Limits high enough that the load itself is never throttled; the contract walk tests the limits. */
const CHAOS_ENV = {
  RATE_LIMIT_MAX: '1000000',
  LOGIN_RATE_LIMIT_MAX: '1000000',
  LOGIN_FAILURE_MAX: '1000000',
  // A crashed consumer's events are claimed by another instance after 3 s rather than 60 s.
  EVENTS_CLAIM_IDLE_MS: '3000',
  // Stale payments are settled by the recovery sweep after 8 s (the whole provider budget is
  // 2 attempts of 3 s), checked every second.
  GATEWAY_TIMEOUT_MS: '3000',
  GATEWAY_MAX_ATTEMPTS: '2',
  PAYMENT_STALE_AFTER_MS: '8000',
  PAYMENT_RECOVERY_INTERVAL_MS: '1000',
};

export async function startChaosPlatform(
  opts: { instances?: number; env?: Record<string, string>; appEnv?: PlatformOptions['appEnv']; redisUrl?: string } = {},
): Promise<{ platform: Platform; infra: Infra; client: Client }> {
  const infra = infraFromEnv();
  const platform = await Platform.start({
    dist: process.env['CHAOS_DIST'] as string,
    instances: opts.instances ?? 2,
    mysqlAdminUrl: infra.mysql.adminUrl,
    redisUrl: opts.redisUrl ?? infra.redis.url,
    env: { ...CHAOS_ENV, ...opts.env },
    appEnv: opts.appEnv,
  });
  return { platform, infra, client: new Client(platform.topology()) };
}

export interface Figures {
  scenario: string;
  requests: number;
  faults: number;
  doubleCharges: number;
  lostEvents: number;
  /** Seconds from the end of a fault until the platform served again, where that is measured. */
  recoverySeconds?: number;
  /** The slowest answer to a request made while a dependency was unreachable (the contract: a 503 within 2 s). */
  timeTo503Seconds?: number;
  /** The longest request of the scenario's load, answered or not (the contract: at most 5 s). */
  longestRequestSeconds?: number;
  /** From the end of the fault until the last instance's /health/ready answered 200 (the contract: 5 s). */
  readyAfterHealSeconds?: number;
  note?: string;
}

/** Appends one scenario's figures for the global teardown to print. */
export function report(figures: Figures): void {
  const file = process.env['CHAOS_FIGURES'];
  if (file) appendFileSync(file, `${JSON.stringify(figures)}\n`);
}

/** Accounts and PENDING orders to pay; requests count towards `client.sent`. */
export async function ordersToPay(client: Client, count: number): Promise<Tracked[]> {
  const accounts = await Promise.all(Array.from({ length: Math.ceil(count / 10) }, () => client.signUp()));
  // Ten at a time: the setup is not under test, and a burst of all of them can outwait MySQL's pool on a busy machine.
  return inParallel(Array.from({ length: count }), 10, async (_, i) => {
    const token = (accounts[i % accounts.length] as { accessToken: string }).accessToken;
    return { orderId: await client.newOrder(token, ITEMS), token, total: ITEMS_TOTAL };
  });
}

export interface PayOutcome {
  orderId: string;
  key: string;
  /** Final status of the last attempt (0: no answer at all). */
  status: number;
  /** The last answer's problem code, if it had one. */
  code?: string;
  attempts: number;
  /** The payment ids the key's 201s named: more than one is a key with two payments. */
  paymentIds: string[];
}

export interface PayOptions {
  /** Retries stop after this long (default 45 s). */
  deadlineMs?: number;
  card?: string;
  /** Each attempt's own limit; past it the attempt counts as unanswered (default 15 s). */
  timeoutMs?: number;
}

/**
 * Pays an order as a careful client does: one Idempotency-Key for the whole operation, retried
 * on no answer, 429, 502, 503 and a 409 that says to come back (the key in progress, or another
 * payment of the order in progress: ORDER_NOT_PAYABLE with Retry-After), after Retry-After when
 * given, until an answer that settles it or until the deadline. Each attempt is a request the client records.
 */
export async function payWithRetries(client: Client, t: Tracked, opts: PayOptions = {}): Promise<PayOutcome> {
  const { deadlineMs = 45_000, card = 'tok_visa', timeoutMs = 15_000 } = opts;
  const key = randomUUID();
  const until = Date.now() + deadlineMs;
  const outcome: PayOutcome = { orderId: t.orderId, key, status: 0, attempts: 0, paymentIds: [] };
  for (;;) {
    outcome.attempts++;
    let retryAfterMs = 200;
    try {
      const res = await client.pay(t.token, t.orderId, key, card, { timeoutMs });
      outcome.status = res.status;
      outcome.code = res.body?.code;
      if (res.status === 201 && !outcome.paymentIds.includes(res.body.id)) outcome.paymentIds.push(res.body.id);
      const comeBack = res.body?.code === 'IDEMPOTENCY_REQUEST_IN_PROGRESS' || res.headers.has('retry-after');
      const retryable = res.status === 502 || res.status === 503 || res.status === 429 || (res.status === 409 && comeBack);
      if (!retryable) return outcome;
      const after = Number(res.headers.get('retry-after'));
      if (after > 0) retryAfterMs = Math.min(after * 1_000, 2_000);
    } catch {
      outcome.status = 0;
      outcome.code = undefined;
    }
    if (Date.now() > until) return outcome;
    await new Promise((resolve) => setTimeout(resolve, retryAfterMs));
  }
}

/**
 * Refunds all of a payment as a careful client does: one Idempotency-Key, retried on no answer,
 * 429, 502, 503 and a 409 that says to come back, until an answer that settles it or the deadline.
 * Answers the last status (0: no answer).
 */
export async function refundWithRetries(client: Client, t: Tracked, paymentId: string, deadlineMs = 45_000): Promise<number> {
  const key = randomUUID();
  const until = Date.now() + deadlineMs;
  for (;;) {
    let status = 0;
    let retryAfterMs = 200;
    try {
      const res = await client.refund(t.token, paymentId, undefined, key, { timeoutMs: 15_000 });
      status = res.status;
      const comeBack = res.body?.code === 'IDEMPOTENCY_REQUEST_IN_PROGRESS' || res.headers.has('retry-after');
      if (!(status === 502 || status === 503 || status === 429 || (status === 409 && comeBack))) return status;
      const after = Number(res.headers.get('retry-after'));
      if (after > 0) retryAfterMs = Math.min(after * 1_000, 2_000);
    } catch {
      status = 0;
    }
    if (Date.now() > until) return status;
    await new Promise((resolve) => setTimeout(resolve, retryAfterMs));
  }
}

/** Runs `work` over `items` with at most `concurrency` at a time. */
export async function inParallel<T, R>(items: T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i] as T, i);
    }),
  );
  return results;
}

export interface InvariantsVerdict {
  doubleCharges: number;
  lostEvents: number;
  /** Each kind of violation, empty when it holds (the first 10 of each). */
  problems: { violations: string[]; pendingEvents: string[]; storage: string[]; down: string[]; crashes: string[] };
}

/**
 * The invariants every scenario ends with: per order (charged − refunded is 0 or the total and
 * agrees with the order and payment-service's view; at most one succeeded charge), in MySQL
 * (no payment left PROCESSING after the recovery sweep, no outbox row unsent, no key with two
 * payments), no event left pending or undelivered in any consumer group, and every process still
 * up. Answers the figures and the problems without failing, so a scenario can report first.
 */
export async function checkInvariants(platform: Platform, client: Client, tracked: Tracked[]): Promise<InvariantsVerdict> {
  const verdict = await checkOrders(client, tracked);
  const storage = await storageProblems(platform.opts.mysqlAdminUrl, tracked.map((t) => t.orderId));
  const events = await pendingEvents(platform.topology());
  const down = platform.all.filter((p) => !p.running).map((p) => p.name);
  return {
    doubleCharges: verdict.doubleCharges,
    lostEvents: verdict.lostEvents + events.pending,
    problems: { violations: verdict.violations.slice(0, 10), pendingEvents: events.detail, storage: storage.slice(0, 10), down, crashes: platform.crashes() },
  };
}

/** The verdict's problems as one list, each line naming its kind. */
export const invariantProblems = (verdict: InvariantsVerdict): string[] =>
  Object.entries(verdict.problems).flatMap(([kind, list]) => list.map((p) => `${kind}: ${p}`));

export const NO_PROBLEMS: InvariantsVerdict['problems'] = { violations: [], pendingEvents: [], storage: [], down: [], crashes: [] };

/** checkInvariants, failing the test on any violation; answers the figures. */
export async function assertInvariants(platform: Platform, client: Client, tracked: Tracked[]) {
  const { doubleCharges, lostEvents, problems } = await checkInvariants(platform, client, tracked);
  expect(problems).toEqual(NO_PROBLEMS);
  return { doubleCharges, lostEvents };
}

/** Stops the platform; every process must exit 0 on SIGTERM after the scenario. */
export async function stopChaosPlatform(platform: Platform | undefined): Promise<void> {
  if (!platform) return;
  const problems = await platform.stop();
  expect(problems).toEqual([]);
}

export const instancesOf = (platform: Platform, app: AppName) => platform.processes[app];

/** Every instance of every service, asked once with `token` for something only a signed-in user may read: their statuses (0: no answer). */
export function probeEveryInstance(client: Client, token: string): Promise<number[]> {
  const paths = { user: '/v1/users/me', order: '/v1/orders', payment: '/v1/payments?orderId=01a20000-0000-7000-8000-000000000000' };
  return Promise.all(
    (['user', 'order', 'payment'] as const).flatMap((service) =>
      client.instances(service).map(async (_, instance) => {
        try {
          return (await client.request(service, 'GET', paths[service], { token, instance, timeoutMs: 3_000 })).status;
        } catch {
          return 0;
        }
      }),
    ),
  );
}

/**
 * After a fault that may have lost a logout's mark: asks every instance with the revoked and a live
 * token every 50 ms until all refuse the one (401) and accept the other (200), for up to `withinMs`.
 * Answers how often each status was given to the revoked token, and when it settled (0: never).
 */
export async function untilRevokedEverywhere(client: Client, tokens: { revoked: string; live: string }, since: number, withinMs: number): Promise<{ seen: Map<number, number>; settledAt: number }> {
  const seen = new Map<number, number>();
  while (Date.now() - since < withinMs) {
    const [revoked, fine] = [await probeEveryInstance(client, tokens.revoked), await probeEveryInstance(client, tokens.live)];
    for (const status of revoked) seen.set(status, (seen.get(status) ?? 0) + 1);
    if (revoked.every((s) => s === 401) && fine.every((s) => s === 200)) return { seen, settledAt: Date.now() };
    await sleep(50);
  }
  return { seen, settledAt: 0 };
}

/** `3 × 503, 12 × 401`. */
export function statusCounts(seen: Map<number, number>): string {
  return [...seen].map(([s, n]) => `${n} × ${s}`).join(', ');
}
