import type { Client } from '../src/client';
import { redisCli, startRedis, stopRedis, type Infra } from '../src/infra';
import type { Tracked } from '../src/invariants';
import type { Platform } from '../src/platform';
import { sleep } from '../src/processes';
import { assertInvariants, inParallel, ordersToPay, payWithRetries, probeEveryInstance, report, startChaosPlatform, statusCounts, stopChaosPlatform, untilRevokedEverywhere } from './support';

let platform: Platform;
let client: Client;
let infra: Infra;

beforeAll(async () => {
  ({ platform, client, infra } = await startChaosPlatform({ instances: 2 }));
}, 120_000);

afterAll(() => stopChaosPlatform(platform));

/**
 * Pays every order, with the fault injected once a third of them are paid; answers the outcomes
 * and the seconds from the end of the fault to the first payment that succeeded after it.
 */
async function payThrough(tracked: Tracked[], fault: () => Promise<number>) {
  let paid = 0;
  let startFault = () => undefined as void;
  const third = new Promise<void>((resolve) => (startFault = resolve));
  let faultEnded = 0;
  let firstSuccessAfter = 0;
  const faulting = third.then(fault).then((at) => (faultEnded = at));
  const outcomes = await inParallel(tracked, 6, async (t) => {
    const outcome = await payWithRetries(client, t, { deadlineMs: 60_000 });
    if (outcome.status === 201 && faultEnded && !firstSuccessAfter) firstSuccessAfter = Date.now();
    if (++paid >= tracked.length / 3) startFault();
    return outcome;
  });
  startFault();
  await faulting;
  expect(firstSuccessAfter).toBeGreaterThan(0);
  return { outcomes, recoverySeconds: (firstSuccessAfter - faultEnded) / 1_000 };
}

it('when Redis is flushed (FLUSHALL) during a run of payments, then no order is charged twice and every paid order still becomes PAID', async () => {
  const tracked = await ordersToPay(client, 90);
  const before = client.sent;
  const { outcomes, recoverySeconds } = await payThrough(tracked, async () => {
    expect(redisCli(infra, 'FLUSHALL')).toBe('OK');
    return Date.now();
  });
  expect(outcomes.filter((o) => o.status !== 201)).toEqual([]);
  const { doubleCharges, lostEvents } = await assertInvariants(platform, client, tracked);
  report({ scenario: 'Redis FLUSHALL during payments', requests: client.sent - before, faults: 1, doubleCharges, lostEvents, recoverySeconds, note: `${tracked.length} orders; the flush after a third were paid` });
});

it('when Redis restarts (losing every key) during a run of payments, then payments resume by themselves, none is charged twice and every paid order becomes PAID', async () => {
  const tracked = await ordersToPay(client, 90);
  const before = client.sent;
  const { outcomes, recoverySeconds } = await payThrough(tracked, async () => {
    await stopRedis(infra);
    await sleep(3_000);
    await startRedis(infra);
    return Date.now();
  });
  expect(outcomes.filter((o) => o.status !== 201)).toEqual([]);
  const { doubleCharges, lostEvents } = await assertInvariants(platform, client, tracked);
  report({
    scenario: 'Redis restart (3 s down, keys lost) during payments',
    requests: client.sent - before,
    faults: 1,
    doubleCharges,
    lostEvents,
    recoverySeconds,
    note: `${tracked.length} orders; recovery: Redis back until the next 201`,
  });
});

it('when Redis is flushed while order-service lags behind the payment events, then the events are published again and every order follows its payment', async () => {
  const tracked = await ordersToPay(client, 20);
  const before = client.sent;
  const outcomes = await inParallel(tracked, 6, (t) => payWithRetries(client, t));
  expect(outcomes.filter((o) => o.status !== 201)).toEqual([]);
  const payments = await Promise.all(
    tracked.map(async (t) => (await client.request('payment', 'GET', `/v1/payments?orderId=${t.orderId}`, { token: t.token })).body.data[0].id as string),
  );
  // Every order-service instance frozen (SIGSTOP): the refund events pile up unread in the stream.
  const orderServices = platform.processes['order-service'];
  orderServices.forEach((p) => process.kill(p.pid as number, 'SIGSTOP'));
  let flushedAt = 0;
  try {
    const refunds = await Promise.all(
      tracked.map((t, i) => client.request('payment', 'POST', `/v1/payments/${payments[i]}/refunds`, { token: t.token, body: {}, headers: { 'idempotency-key': `r-${payments[i]}` } })),
    );
    expect(refunds.map((r) => r.status)).toEqual(tracked.map(() => 201));
    expect(redisCli(infra, 'FLUSHALL')).toBe('OK');
    flushedAt = Date.now();
  } finally {
    orderServices.forEach((p) => process.kill(p.pid as number, 'SIGCONT'));
  }
  const { doubleCharges, lostEvents } = await assertInvariants(platform, client, tracked);
  const statuses = await Promise.all(tracked.map(async (t) => (await client.request('order', 'GET', `/v1/orders/${t.orderId}`, { token: t.token })).body.status));
  expect(statuses).toEqual(tracked.map(() => 'REFUNDED'));
  report({
    scenario: 'Redis FLUSHALL with 20 refund events unread',
    requests: client.sent - before,
    faults: 1,
    doubleCharges,
    lostEvents,
    recoverySeconds: (Date.now() - flushedAt) / 1_000,
    note: 'order-service frozen while 20 full refunds were made, then Redis flushed; recovery: flush until every order was checked REFUNDED',
  });
});

it('when Redis is flushed after a logout, then the revoked token stays refused by every instance of every service, and a live one passes again', async () => {
  const before = client.sent;
  const live = await client.signUp();
  const gone = await client.signUp();
  expect((await client.request('user', 'POST', '/v1/auth/logout', { token: gone.accessToken })).status).toBe(204);
  // Every instance has seen the revocation marker by now (they look four times a second).
  await sleep(500);
  expect(new Set(await probeEveryInstance(client, gone.accessToken))).toEqual(new Set([401]));
  expect(redisCli(infra, 'FLUSHALL')).toBe('OK');
  const flushedAt = Date.now();
  const { seen, settledAt } = await untilRevokedEverywhere(client, { revoked: gone.accessToken, live: live.accessToken }, flushedAt, 10_000);
  expect(settledAt).toBeGreaterThan(0);
  const accepted = seen.get(200) ?? 0;
  report({
    scenario: 'Redis FLUSHALL after a logout',
    requests: client.sent - before,
    faults: 1,
    doubleCharges: 0,
    lostEvents: 0,
    recoverySeconds: (settledAt - flushedAt) / 1_000,
    note: `the revoked token, asked of every instance until all refused it: ${statusCounts(seen)}; accepted ${accepted} times`,
  });
  expect(accepted).toBe(0);
});
