import { randomUUID } from 'node:crypto';
import type { Client } from '../src/client';
import { paymentsProcessing, type Tracked } from '../src/invariants';
import type { Platform } from '../src/platform';
import { sleep } from '../src/processes';
import { BOUNDS } from './fault-load';
import { checkInvariants, invariantProblems, ordersToPay, report, startChaosPlatform, stopChaosPlatform } from './support';

let platform: Platform;
let client: Client;

beforeAll(async () => {
  // payment-service's own limits on the provider (CHAOS_ENV lengthens them for sandboxes that take
  // 1.5 s), so that its answers are held to the contract's 5 s; the sandbox takes 400 ms a charge.
  ({ platform, client } = await startChaosPlatform({
    instances: 2,
    env: { GATEWAY_TIMEOUT_MS: '750', GATEWAY_MAX_ATTEMPTS: '2' },
    appEnv: { 'gateway-sandbox': { GATEWAY_LATENCY_MS: '400' } },
  }));
}, 120_000);

afterAll(() => stopChaosPlatform(platform));

const ORDERS = 24;
const EVERY_MS = 500;
/** The freeze comes once a payment is PROCESSING (at the provider) after this long. */
const FREEZE_AFTER_MS = 1_000;
/** Longer than PAYMENT_STALE_AFTER_MS (8 s): the first payments are stale when the provider wakes. */
const HOLD_MS = 12_000;

/** Freezes the sandbox as soon as a payment is at the provider, holds, resumes; answers when. */
async function freezeMidCharge(pid: number, ids: string[]) {
  await sleep(FREEZE_AFTER_MS);
  let charging: string[] = [];
  while (charging.length === 0) {
    charging = await paymentsProcessing(platform.opts.mysqlAdminUrl, ids);
    if (charging.length === 0) await sleep(50);
  }
  process.kill(pid, 'SIGSTOP');
  const frozen = Date.now();
  try {
    await sleep(HOLD_MS);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  return { frozen, thawed: Date.now(), charging: charging.length };
}

/** What the provider's ledger, payment-service and order-service each say of an order. */
async function accountOf(t: Tracked) {
  const [charges, payments, order] = await Promise.all([
    client.charges(t.orderId),
    client.request('payment', 'GET', `/v1/payments?orderId=${t.orderId}`, { token: t.token }),
    client.request('order', 'GET', `/v1/orders/${t.orderId}`, { token: t.token }),
  ]);
  const charged = charges.filter((c) => c.status === 'succeeded').length;
  const list = payments.body.data as { status: string; failureCode: string | null }[];
  // The failure code tells who failed it: GATEWAY_ERROR with no charge is the sweep's "unknown to the provider".
  const described = list.map((p) => (p.failureCode ? `${p.status} ${p.failureCode}` : p.status));
  return { charged, statuses: list.map((p) => p.status).sort(), described, order: order.body.status as string };
}

it('when the provider goes silent (SIGSTOP) mid-charge while payments keep coming, then no request waits over 5 s, and after SIGCONT the recovery sweep settles each payment as the ledger says: charged once and SUCCEEDED with the order PAID, or not charged and FAILED', async () => {
  const tracked = await ordersToPay(client, ORDERS);
  const sandbox = platform.processes['gateway-sandbox'][0];
  if (!sandbox?.pid) throw new Error('no gateway-sandbox');
  const before = client.sent;
  const recording = client.record();
  const startedAt = Date.now();
  const ids = tracked.map((t) => t.orderId);
  const fault = freezeMidCharge(sandbox.pid, ids);
  // One attempt per order and no retry: what a request leaves PROCESSING is the sweep's to settle.
  const answers: Promise<number>[] = [];
  for (const t of tracked) {
    answers.push(client.pay(t.token, t.orderId, randomUUID(), 'tok_visa', { timeoutMs: 30_000 }).then((r) => r.status, () => 0));
    await sleep(EVERY_MS);
  }
  const at = await fault;
  let processing = await paymentsProcessing(platform.opts.mysqlAdminUrl, ids);
  const inFlightAtThaw = processing.length;
  while (processing.length > 0 && Date.now() - at.thawed < 40_000) {
    await sleep(250);
    processing = await paymentsProcessing(platform.opts.mysqlAdminUrl, ids);
  }
  const settledMs = Date.now() - at.thawed;
  const statuses = await Promise.all(answers);
  recording.stop();
  const verdict = await checkInvariants(platform, client, tracked);
  const accounts = await Promise.all(tracked.map(accountOf));
  const agree = (a: (typeof accounts)[number]) =>
    a.charged === 1 ? a.order === 'PAID' && a.statuses.filter((s) => s !== 'FAILED').join() === 'SUCCEEDED' : a.charged === 0 && a.order === 'PENDING' && a.statuses.every((s) => s === 'FAILED');
  const count = (f: (s: number) => boolean) => statuses.filter(f).length;
  const longest = recording.records.reduce((max, r) => (r.ms > max.ms ? r : max));
  const charged = accounts.filter((a) => a.charged === 1);
  const uncharged = accounts.filter((a) => a.charged === 0);
  report({
    scenario: 'provider frozen 12 s (SIGSTOP) mid-charge',
    requests: client.sent - before,
    faults: 1,
    doubleCharges: verdict.doubleCharges,
    lostEvents: verdict.lostEvents,
    recoverySeconds: settledMs / 1_000,
    longestRequestSeconds: longest.ms / 1_000,
    note:
      `${ORDERS} single-attempt payments, one every ${EVERY_MS} ms; the provider frozen ${((at.frozen - startedAt) / 1_000).toFixed(1)} s in with ${at.charging} at it; answers: ${count((s) => s === 201)} × 201, ${count((s) => s === 502)} × 502, ${count((s) => ![201, 502].includes(s))} other; ` +
      `${inFlightAtThaw} PROCESSING at SIGCONT, ${processing.length} ${(settledMs / 1_000).toFixed(1)} s later (recovery); ledger: ${charged.length} charged once (${charged.filter(agree).length} SUCCEEDED and PAID), ${uncharged.length} not charged (${uncharged.filter(agree).length} FAILED and PENDING)`,
  });
  expect([
    ...(longest.ms > BOUNDS.longestMs ? [`the longest request: ${longest.method} ${longest.path} answered ${longest.status || 'nothing'} after ${(longest.ms / 1_000).toFixed(2)} s`] : []),
    ...processing.map((o) => `order ${o}: still PROCESSING ${(settledMs / 1_000).toFixed(1)} s after SIGCONT`),
    ...accounts.flatMap((a, i) => (agree(a) ? [] : [`order ${tracked[i]?.orderId}: ledger ${a.charged} succeeded charges, payments [${a.described.join(', ')}], order ${a.order}`])),
    ...invariantProblems(verdict),
  ]).toEqual([]);
}, 180_000);
