import { ITEMS, ITEMS_TOTAL, type Client } from '../src/client';
import { redisCli, startRedis, stopRedis, type Infra } from '../src/infra';
import type { Tracked } from '../src/invariants';
import { expectedHistory, followOrder, history, type FollowOutcome, type OrderFollower } from '../src/order-follower';
import type { Platform } from '../src/platform';
import { sleep } from '../src/processes';
import { assertInvariants, inParallel, payWithRetries, refundWithRetries, report, startChaosPlatform, stopChaosPlatform } from './support';

/**
 * Live order-status streams (GET /v1/orders/{id}/events) through faults: whatever a stream does
 * during one (it may end: a revocation check that cannot be trusted ends it, failing closed), a
 * client that reconnects with Last-Event-ID, as an EventSource does, ends up with every status
 * change of its order exactly once, in version order, the final one included.
 */

let platform: Platform;
let client: Client;
let infra: Infra;

beforeAll(async () => {
  ({ platform, client, infra } = await startChaosPlatform({ instances: 2 }));
}, 120_000);

afterAll(() => stopChaosPlatform(platform));

const SHUTDOWN_COMMENT = 'closed: the server is shutting down; reconnect';

/** `users` accounts with `perUser` PENDING orders each. */
async function usersWithOrders(users: number, perUser: number): Promise<Tracked[]> {
  const accounts = await Promise.all(Array.from({ length: users }, () => client.signUp()));
  const orders = accounts.flatMap((a) => Array.from({ length: perUser }, () => a.accessToken));
  return Promise.all(orders.map(async (token) => ({ orderId: await client.newOrder(token, ITEMS), token, total: ITEMS_TOTAL })));
}

/** A follower per order, spread over the instances, each having had the order's current state (PENDING). */
async function followAll(tracked: Tracked[], refunded: (i: number) => boolean, firstInstance = (i: number) => i): Promise<OrderFollower[]> {
  const followers = tracked.map((t, i) =>
    followOrder(t.orderId, t.token, {
      instances: client.instances('order'),
      firstInstance: firstInstance(i),
      // A PAID order's stream stays open: its follower stops there. A REFUNDED one's ends, and the
      // follower asks again until the 204 that says nothing more will come.
      until: refunded(i) ? undefined : (e) => e.status === 'PAID',
      deadlineMs: 120_000,
      headers: { 'x-forwarded-for': client.ip },
    }),
  );
  await Promise.all(followers.map((f) => f.eventCount(1)));
  return followers;
}

/**
 * What each follower saw, by order, against the order's own history. A refunded order went
 * PENDING, PAID, REFUNDED (version 3), unless its refund's event was handled before its payment's
 * (the outbox replays both after Redis lost them, in no promised order): then PENDING, REFUNDED in
 * one step (version 2), and no PAID was ever committed to be seen. The version is the ETag's.
 */
async function expectHistories(tracked: Tracked[], outcomes: FollowOutcome[], refunded: (i: number) => boolean): Promise<void> {
  const seen = Object.fromEntries(tracked.map((t, i) => [t.orderId, history((outcomes[i] as FollowOutcome).events)]));
  const owed: Record<string, string[]> = {};
  for (const [i, t] of tracked.entries()) {
    if (!refunded(i)) {
      owed[t.orderId] = expectedHistory('PENDING', 'PAID');
      continue;
    }
    const tag = (await client.getOrder(t.token, t.orderId)).headers.get('etag') ?? '';
    owed[t.orderId] = tag.endsWith('.2"') ? expectedHistory('PENDING', 'REFUNDED') : expectedHistory('PENDING', 'PAID', 'REFUNDED');
  }
  expect(seen).toEqual(owed);
  expect(outcomes.map((o) => o.end)).toEqual(tracked.map((_, i) => (refunded(i) ? 'gone' : 'reached')));
}

/** A line on how the followers got there: how many streams ended under them, and what their reconnections were answered. */
function followingNote(outcomes: FollowOutcome[]): string {
  const resumed = outcomes.filter((o) => o.connections.length > 1).length;
  const answers = new Map<string, number>();
  for (const c of outcomes.flatMap((o) => o.connections.slice(1))) {
    const answer = c.status === 0 ? 'no answer' : c.problem ? `${c.status} ${c.problem}` : String(c.status);
    answers.set(answer, (answers.get(answer) ?? 0) + 1);
  }
  const closes = new Map<string, number>();
  for (const comment of outcomes.flatMap((o) => o.connections.flatMap((c) => c.comments)).filter((c) => c.startsWith('closed'))) {
    closes.set(comment, (closes.get(comment) ?? 0) + 1);
  }
  return [
    `${resumed} of ${outcomes.length} followers reconnected`,
    `reconnections answered ${[...answers].map(([a, n]) => `${n} × ${a}`).join(', ') || 'none'}`,
    `streams closed with ${[...closes].map(([c, n]) => `${n} × "${c}"`).join(', ') || 'no comment'}`,
  ].join('; ');
}

/**
 * Six users follow two orders each; every order is paid and every other one refunded through
 * payment-service, `fault` injected once a third of them are done. Answers what each follower saw.
 */
async function streamsThrough(fault: () => Promise<void>) {
  const tracked = await usersWithOrders(6, 2);
  const refunded = (i: number) => i % 2 === 0;
  const followers = await followAll(tracked, refunded);
  let done = 0;
  let startFault = () => undefined as void;
  const third = new Promise<void>((resolve) => (startFault = resolve));
  const faulting = third.then(fault);
  const results = await inParallel(tracked, 4, async (t, i) => {
    const paid = await payWithRetries(client, t, { deadlineMs: 60_000 });
    const refund = refunded(i) && paid.status === 201 ? await refundWithRetries(client, t, paid.paymentIds[0] as string, 60_000) : undefined;
    if (++done >= tracked.length / 3) startFault();
    return { paid: paid.status, refund };
  });
  startFault();
  await faulting;
  expect(results).toEqual(tracked.map((_, i) => ({ paid: 201, refund: refunded(i) ? 201 : undefined })));
  const outcomes = await Promise.all(followers.map((f) => f.done));
  return { tracked, refunded, outcomes };
}

it('when Redis is flushed (FLUSHALL) while users follow their orders being paid and refunded, then each follower that reconnects with Last-Event-ID has every status change once, in order', async () => {
  const before = client.sent;
  let flushedAt = 0;
  const { tracked, refunded, outcomes } = await streamsThrough(async () => {
    expect(redisCli(infra, 'FLUSHALL')).toBe('OK');
    flushedAt = Date.now();
  });
  await expectHistories(tracked, outcomes, refunded);
  const { doubleCharges, lostEvents } = await assertInvariants(platform, client, tracked);
  const lastEvent = Math.max(...outcomes.flatMap((o) => o.events.map((e) => e.at)));
  report({
    scenario: 'Redis FLUSHALL under 12 live order streams',
    requests: client.sent - before,
    faults: 1,
    doubleCharges,
    lostEvents,
    recoverySeconds: (lastEvent - flushedAt) / 1_000,
    note: `6 users, 12 orders paid (6 refunded) around the flush; ${followingNote(outcomes)}; recovery: flush until the last event any follower got`,
  });
});

it('when Redis restarts (losing every key) while users follow their orders being paid and refunded, then each follower that reconnects with Last-Event-ID has every status change once, in order', async () => {
  const before = client.sent;
  let backAt = 0;
  const { tracked, refunded, outcomes } = await streamsThrough(async () => {
    await stopRedis(infra);
    await sleep(3_000);
    await startRedis(infra);
    backAt = Date.now();
  });
  await expectHistories(tracked, outcomes, refunded);
  const { doubleCharges, lostEvents } = await assertInvariants(platform, client, tracked);
  const lastEvent = Math.max(...outcomes.flatMap((o) => o.events.map((e) => e.at)));
  report({
    scenario: 'Redis restart (3 s down) under 12 live order streams',
    requests: client.sent - before,
    faults: 1,
    doubleCharges,
    lostEvents,
    recoverySeconds: (lastEvent - backAt) / 1_000,
    note: `6 users, 12 orders paid (6 refunded) around the restart; ${followingNote(outcomes)}; recovery: Redis back until the last event any follower got`,
  });
});

it('when the order-service instance holding the streams gets SIGTERM while their orders are paid, then each stream ends cleanly saying so, and its client resumes on the other instance missing nothing', async () => {
  const before = client.sent;
  const tracked = await usersWithOrders(4, 1);
  const refunded = () => true;
  const followers = await followAll(tracked, refunded, () => 0);
  const holder = platform.processes['order-service'][0];
  if (!holder) throw new Error('no order-service instance');
  const paying = inParallel(tracked, 4, (t) => payWithRetries(client, t, { deadlineMs: 60_000 }));
  const sigtermAt = Date.now();
  const exit = await holder.stop('SIGTERM');
  const payments = await paying;
  expect(exit).toBe(0);
  expect(payments.map((p) => p.status)).toEqual(tracked.map(() => 201));
  // Once each follower has the PAID, the order is refunded: its stream ends, and the follower's
  // next connection must be answered 204 (nothing more), not the REFUNDED again.
  await Promise.all(followers.map((f) => f.eventCount(2, 60_000)));
  const refunds = await Promise.all(tracked.map((t, i) => refundWithRetries(client, t, payments[i]?.paymentIds[0] as string)));
  expect(refunds).toEqual(tracked.map(() => 201));
  const outcomes = await Promise.all(followers.map((f) => f.done));
  await holder.start();

  await expectHistories(tracked, outcomes, refunded);
  // The first stream of each, on the instance that stopped: ended by the server, the comment
  // before the end, the answer complete; the next connection that was answered was the other instance's.
  const firsts = outcomes.map((o) => o.connections[0]);
  expect(firsts.map((c) => ({ instance: c?.instance, status: c?.status, clean: c?.clean, said: c?.comments.at(-1) }))).toEqual(
    tracked.map(() => ({ instance: 0, status: 200, clean: true, said: SHUTDOWN_COMMENT })),
  );
  const resumes = outcomes.map((o) => o.connections.slice(1).find((c) => c.status === 200));
  const lastOnFirst = outcomes.map((o) => String(o.events.filter((e) => e.connection === 0).at(-1)?.version));
  expect(resumes.map((c) => ({ instance: c?.instance, lastEventId: c?.lastEventId }))).toEqual(lastOnFirst.map((id) => ({ instance: 1, lastEventId: id })));
  // The PAID came after the shutdown, on the resumed stream: the scenario is the one it says.
  const paidAfter = outcomes.filter((o) => o.events.find((e) => e.status === 'PAID')?.connection !== 0).length;
  expect(paidAfter).toBeGreaterThan(0);

  const { doubleCharges, lostEvents } = await assertInvariants(platform, client, tracked);
  const endedAfter = Math.max(...firsts.map((c) => (c?.endedAt ?? Infinity) - sigtermAt));
  report({
    scenario: 'SIGTERM of the order-service instance holding 4 streams during payments',
    requests: client.sent - before,
    faults: 1,
    doubleCharges,
    lostEvents,
    note: `exit ${exit}; every stream ended within ${endedAfter} ms of the SIGTERM; ${paidAfter} of 4 got the PAID after resuming on the other instance; ${followingNote(outcomes)}`,
  });
});
