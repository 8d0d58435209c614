import { randomUUID } from 'node:crypto';
import type { Answer, Client } from '../src/client';
import { infraFromEnv, signalServer } from '../src/infra';
import { paymentsProcessing, type Tracked } from '../src/invariants';
import type { Platform } from '../src/platform';
import { sleep } from '../src/processes';
import { checkInvariants, invariantProblems, ordersToPay, report, startChaosPlatform, stopChaosPlatform } from './support';

const infra = infraFromEnv();
let platform: Platform;
let client: Client;

beforeAll(async () => {
  // The provider takes 2 s per charge: the cancel and the freeze both land while it charges.
  ({ platform, client } = await startChaosPlatform({ instances: 2, appEnv: { 'gateway-sandbox': { GATEWAY_LATENCY_MS: '2000' } } }));
}, 120_000);

afterAll(() => stopChaosPlatform(platform));

const ORDERS = 6;
/** The provider takes 2 s: a payment not at the provider by then is not racing its cancel. */
const WAIT_FOR_PROVIDER_MS = 1_500;
const HOLD_MS = 10_000;

/** The ledger, payment-service and order-service on one order. */
async function accountOf(t: Tracked) {
  const [charges, payments, order] = await Promise.all([
    client.charges(t.orderId),
    client.request('payment', 'GET', `/v1/payments?orderId=${t.orderId}`, { token: t.token, timeoutMs: 5_000 }),
    client.request('order', 'GET', `/v1/orders/${t.orderId}`, { token: t.token, timeoutMs: 5_000 }),
  ]);
  const succeeded = charges.filter((c) => c.status === 'succeeded');
  return {
    charged: succeeded.length,
    kept: succeeded.reduce((sum, c) => sum + c.amount - c.refundedAmount, 0),
    statuses: ((payments.body?.data ?? []) as { status: string }[]).map((p) => p.status).sort(),
    order: order.body?.status as string,
  };
}
type Account = Awaited<ReturnType<typeof accountOf>>;

/** Cancelled, nothing kept, and payment-service agrees: a charge made is REFUNDED, none made is FAILED (or no payment). */
const settled = (a: Account) =>
  a.order === 'CANCELLED' && a.kept === 0 && (a.charged === 1 ? a.statuses.join() === 'REFUNDED' : a.charged === 0 && a.statuses.every((s) => s === 'FAILED'));

it('when an order is cancelled while its payment is at the provider and Redis is frozen (SIGSTOP) meanwhile, then after SIGCONT the payment is refunded automatically, the order stays CANCELLED, and the provider keeps nothing', async () => {
  const tracked = await ordersToPay(client, ORDERS);
  const before = client.sent;
  const recording = client.record();
  const paying = tracked.map((t) => client.pay(t.token, t.orderId, randomUUID(), 'tok_visa', { timeoutMs: 30_000 }).catch(() => undefined));
  // Cancelled once their payments are PROCESSING, i.e. at the provider, past the order's check.
  const ids = tracked.map((t) => t.orderId);
  const startedAt = Date.now();
  let atProvider: string[] = [];
  while (atProvider.length < ORDERS && Date.now() - startedAt < WAIT_FOR_PROVIDER_MS) {
    await sleep(50);
    atProvider = await paymentsProcessing(platform.opts.mysqlAdminUrl, ids);
  }
  const cancelledAfterMs = Date.now() - startedAt;
  const cancels = await Promise.all(
    tracked.map((t) => client.request('order', 'POST', `/v1/orders/${t.orderId}/cancel`, { token: t.token, timeoutMs: 5_000 }).catch(() => undefined)),
  );
  // Redis freezes while the provider still charges: the payment settles in MySQL, its event waits.
  signalServer(infra, 'redis', 'SIGSTOP');
  const frozenAt = Date.now();
  let thawedAt = 0;
  try {
    await sleep(HOLD_MS);
  } finally {
    signalServer(infra, 'redis', 'SIGCONT');
    thawedAt = Date.now();
  }
  const payments = await Promise.all(paying);
  let accounts: Account[] = [];
  do {
    accounts = await Promise.all(tracked.map(accountOf));
    if (accounts.every(settled)) break;
    await sleep(250);
  } while (Date.now() - thawedAt < 30_000);
  const settledMs = Date.now() - thawedAt;
  recording.stop();
  const verdict = await checkInvariants(platform, client, tracked);
  const answers = (list: (Answer | undefined)[]) => list.map((a) => (a ? `${a.status}${a.body?.code ? ` ${a.body.code}` : ''}` : 'no answer')).join(', ');
  report({
    scenario: 'cancel racing a payment, Redis frozen 10 s',
    requests: client.sent - before,
    faults: 1,
    doubleCharges: verdict.doubleCharges,
    lostEvents: verdict.lostEvents,
    recoverySeconds: settledMs / 1_000,
    longestRequestSeconds: Math.max(...recording.records.map((r) => r.ms)) / 1_000,
    note:
      `${ORDERS} payments (provider 2 s), ${atProvider.length} of them at the provider when every order was cancelled ${cancelledAfterMs} ms in (${answers(cancels)}), Redis frozen ${((thawedAt - frozenAt) / 1_000).toFixed(1)} s from then; ` +
      `payments answered ${answers(payments)}; ${accounts.filter((a) => a.charged === 1).length} charged and ${accounts.filter((a) => a.charged === 1 && settled(a)).length} of them refunded; recovery: SIGCONT until every order was cancelled with nothing kept`,
  });
  const problems = [
    ...(atProvider.length === 0 ? [`no payment was at the provider ${cancelledAfterMs} ms in, when the orders were cancelled: nothing raced`] : []),
    ...cancels.flatMap((c, i) => (c?.status === 200 ? [] : [`order ${tracked[i]?.orderId}: the cancel answered ${c?.status ?? 'nothing'}`])),
    ...accounts.flatMap((a, i) => (settled(a) ? [] : [`order ${tracked[i]?.orderId}: ${a.order}, ledger ${a.charged} charges keeping ${a.kept}, payments [${a.statuses.join(', ')}]`])),
    ...invariantProblems(verdict),
  ];
  expect(problems).toEqual([]);
}, 180_000);
