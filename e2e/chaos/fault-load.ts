import type { Client, RequestRecord } from '../src/client';
import type { Tracked } from '../src/invariants';
import type { Platform } from '../src/platform';
import { sleep } from '../src/processes';
import { checkInvariants, invariantProblems, ordersToPay, payWithRetries, report, startChaosPlatform, type PayOutcome } from './support';

/**
 * A dependency made unreachable (partitioned or frozen) under a payment load, measured against
 * the contract's "When parts fail": a request that needs it gets 503 with Retry-After within
 * 2 s, no answer waits longer than 5 s, and every instance is ready within 5 s of the heal
 * without a restart. The defaults, with no slack: the services run with their default timeouts.
 */
export const BOUNDS = Object.freeze({ answerMs: 2_000, longestMs: 5_000, readyMs: 5_000 });

export interface Fault {
  scenario: string;
  /** Starts the fault (cuts the link, stops a server); it holds from the moment this returns. */
  begin(): void;
  /** Ends it; the dependency is reachable again from the moment this returns. */
  end(): void;
  holdMs: number;
  note: string;
}

const WORKERS = 6;
const ORDERS = 120;
/** Each paying client rests this long between orders, so the pool lasts the run. */
const PACE_MS = 500;
/** A client's own limit per attempt: past the 5 s bound, so a request that breaks it shows by how much. */
const ATTEMPT_TIMEOUT_MS = 6_000;
/** Load before the fault, and after the heal. */
const BEFORE_MS = 2_000;
const AFTER_MS = 4_000;

interface Timeline {
  cutAt: number;
  /** When the heal was asked for: the last moment the dependency was surely unreachable. */
  healAskedAt: number;
  healedAt: number;
}

/** Pays orders with WORKERS careful clients while `fault` holds; measures, reports, then asserts. */
export async function paymentsThroughFault(platform: Platform, client: Client, fault: Fault): Promise<void> {
  const tracked = await ordersToPay(client, ORDERS);
  const pids = platform.all.map((p) => `${p.name} ${p.pid}`);
  const before = client.sent;
  const run = await payThrough(platform, client, tracked, fault);
  const figures = measure(run.records, run.at);
  const verdict = await checkInvariants(platform, client, tracked);
  const restarted = platform.all.map((p) => `${p.name} ${p.pid}`).filter((p) => !pids.includes(p));
  const { ready, outcomes } = run;
  report({
    scenario: fault.scenario,
    requests: client.sent - before,
    faults: 1,
    doubleCharges: verdict.doubleCharges,
    lostEvents: verdict.lostEvents,
    recoverySeconds: figures.firstPaidAfterHealMs === undefined ? undefined : figures.firstPaidAfterHealMs / 1_000,
    timeTo503Seconds: figures.timeTo503Ms === undefined ? undefined : figures.timeTo503Ms / 1_000,
    longestRequestSeconds: figures.longest ? figures.longest.ms / 1_000 : undefined,
    readyAfterHealSeconds: ready.ms / 1_000,
    note: `${fault.note}; ${outcomes.length} orders paid by ${WORKERS} clients; during the fault ${figures.during.length} requests: ${histogram(figures.during)}${ready.notReady.length ? `; not ready: ${ready.notReady.join(', ')}` : ''}`,
  });
  expect([
    ...boundsBroken(figures, run),
    ...restarted.map((p) => `restarted: now ${p}`),
    ...outcomes.filter((o) => o.status !== 201).map((o) => `order ${o.orderId}: the payment ended ${o.status}${o.code ? ` ${o.code}` : ''} after ${o.attempts} attempts`),
    ...outcomes.filter((o) => o.paymentIds.length > 1).map((o) => `key ${o.key}: 201 with ${o.paymentIds.length} payment ids`),
    ...invariantProblems(verdict),
  ]).toEqual([]);
}

/**
 * The load and the fault: the clients pay for BEFORE_MS, the fault holds, readiness is polled
 * from the heal, and the clients go on for AFTER_MS, finishing the orders they hold.
 */
async function payThrough(platform: Platform, client: Client, tracked: Tracked[], fault: Fault) {
  const recording = client.record();
  const outcomes: PayOutcome[] = [];
  let stop = false;
  let next = 0;
  const worker = async () => {
    for (let t = tracked[next++]; t && !stop; t = tracked[next++]) {
      outcomes.push(await payWithRetries(client, t, { deadlineMs: fault.holdMs + 30_000, timeoutMs: ATTEMPT_TIMEOUT_MS }));
      await sleep(PACE_MS);
    }
  };
  const load = Promise.all(Array.from({ length: WORKERS }, worker));
  const at: Timeline = { cutAt: 0, healAskedAt: 0, healedAt: 0 };
  try {
    await sleep(BEFORE_MS);
    fault.begin();
    at.cutAt = Date.now();
    await sleep(fault.holdMs);
    at.healAskedAt = Date.now();
  } finally {
    fault.end();
    at.healedAt = Date.now();
  }
  const ready = await readyAfter(platform, at.healedAt);
  await sleep(at.healedAt + AFTER_MS - Date.now());
  stop = true;
  await load;
  recording.stop();
  return { records: recording.records, outcomes, at, ready };
}

/** The contract's bounds the run broke, one line each. */
function boundsBroken(figures: ReturnType<typeof measure>, { at, ready }: Awaited<ReturnType<typeof payThrough>>): string[] {
  const { during, longest } = figures;
  return [
    ...(during.length === 0 ? ['no request was sent while the fault held (every client was waiting on an earlier one)'] : []),
    ...during.filter((r) => !(r.status === 503 && r.retryAfter && r.ms <= BOUNDS.answerMs)).map((r) => `during the fault: ${describe(r, at)}`),
    ...(longest && longest.ms > BOUNDS.longestMs ? [`the longest request: ${describe(longest, at)}`] : []),
    ...(ready.ms > BOUNDS.readyMs ? [`ready ${(ready.ms / 1_000).toFixed(2)} s after the heal${ready.notReady.length ? `, never for ${ready.notReady.join(', ')}` : ''}`] : []),
  ];
}

/** The figures of the load's requests against the fault's timeline. */
function measure(records: RequestRecord[], at: Timeline) {
  // Made while the fault held, early enough that the heal cannot have answered them:
  // each needed the dependency and must be refused (503 with Retry-After) within 2 s.
  const during = records.filter((r) => r.startedAt >= at.cutAt && r.startedAt <= at.healAskedAt - BOUNDS.answerMs);
  const longest = records.reduce<RequestRecord | undefined>((max, r) => (!max || r.ms > max.ms ? r : max), undefined);
  const paidAfter = records.filter((r) => r.status === 201 && r.startedAt + r.ms >= at.healedAt).map((r) => r.startedAt + r.ms - at.healedAt);
  return {
    during,
    timeTo503Ms: during.length ? Math.max(...during.map((r) => r.ms)) : undefined,
    longest,
    firstPaidAfterHealMs: paidAfter.length ? Math.min(...paidAfter) : undefined,
  };
}

function describe(r: RequestRecord, at: Timeline): string {
  const offset = (r.startedAt - at.cutAt) / 1_000;
  const when = offset < 0 ? `${(-offset).toFixed(2)} s before the cut` : `${offset.toFixed(2)} s after the cut`;
  const answer = r.status === 0 ? 'no answer' : `${r.status}${r.code ? ` ${r.code}` : ''}${r.retryAfter ? ` (Retry-After ${r.retryAfter})` : ''}`;
  return `${r.method} ${r.path} sent ${when}: ${answer} after ${(r.ms / 1_000).toFixed(2)} s`;
}

/** `503 ×12 (≤ 0.51 s), 0 ×2 (≤ 6.00 s)`: answers by status, with the slowest of each. */
function histogram(records: RequestRecord[]): string {
  const by = new Map<number, number[]>();
  for (const r of records) by.set(r.status, [...(by.get(r.status) ?? []), r.ms]);
  return [...by].map(([status, ms]) => `${status || 'no answer'} ×${ms.length} (≤ ${(Math.max(...ms) / 1_000).toFixed(2)} s)`).join(', ') || 'none';
}

/**
 * Polls every instance's /health/ready from `since` until each answers 200 (or `limitMs`
 * passed); answers the time until the last one did, and those that never did.
 */
export async function readyAfter(platform: Platform, since: number, limitMs = 20_000): Promise<{ ms: number; notReady: string[] }> {
  const times = await Promise.all(
    platform.all.map(async (p) => {
      while (Date.now() - since < limitMs) {
        const res = await fetch(`${p.url}/health/ready`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
        if (res?.status === 200) return Date.now() - since;
        await sleep(100);
      }
      return undefined;
    }),
  );
  return {
    ms: Math.max(...times.map((t) => t ?? limitMs)),
    notReady: platform.all.filter((_, i) => times[i] === undefined).map((p) => p.name),
  };
}

/**
 * The platform a scenario starts from: the current one when every instance is ready within 5 s,
 * or a fresh one (the previous scenario left it unready, and has failed for it), so that one
 * scenario's failure is not every later one's.
 */
export async function readyPlatform(current: { platform: Platform; client: Client } | undefined) {
  if (current) {
    const ready = await readyAfter(current.platform, Date.now(), BOUNDS.readyMs);
    if (ready.notReady.length === 0) return current;
    process.stdout.write(`\nchaos: ${ready.notReady.join(', ')} not ready after the previous scenario: starting a fresh platform\n`);
    await current.platform.stop();
  }
  return startChaosPlatform({ instances: 2 });
}
