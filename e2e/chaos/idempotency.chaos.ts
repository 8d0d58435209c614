import { randomUUID } from 'node:crypto';
import type { Answer, Client } from '../src/client';
import type { Tracked } from '../src/invariants';
import type { Platform } from '../src/platform';
import { assertInvariants, ordersToPay, report, startChaosPlatform, stopChaosPlatform } from './support';

let platform: Platform;
let client: Client;

beforeAll(async () => {
  // The provider takes 300 ms, so the requests sharing a key really overlap the first one.
  ({ platform, client } = await startChaosPlatform({ instances: 3, appEnv: { 'gateway-sandbox': { GATEWAY_LATENCY_MS: '300' } } }));
}, 120_000);

afterAll(() => stopChaosPlatform(platform));

/**
 * Fires `perKey` requests for each order at once, all with the order's one key, spread over
 * the instances; answers them per order.
 */
async function storm(tracked: Tracked[], perKey: number): Promise<{ key: string; answers: (Answer | undefined)[] }[]> {
  const keys = tracked.map(() => randomUUID());
  const all = await Promise.all(
    tracked.flatMap((t, i) =>
      Array.from({ length: perKey }, () => client.pay(t.token, t.orderId, keys[i], 'tok_visa', { timeoutMs: 60_000 }).catch(() => undefined)),
    ),
  );
  return tracked.map((_, i) => ({ key: keys[i] as string, answers: all.slice(i * perKey, (i + 1) * perKey) }));
}

/** 503 with Retry-After: the instance shed the request (a dependency timed out under the flood); nothing kept, a retry runs. */
const shed = (a: Answer | undefined) => a?.status === 503 && a.headers.get('retry-after') !== null && a.body?.code === 'DEPENDENCY_UNAVAILABLE';

/**
 * Per key: only 201 (one payment id), 409 in progress, or 503 shed under the flood; then the
 * key's retry replays the 201.
 */
async function expectOnePaymentPerKey(tracked: Tracked[], results: Awaited<ReturnType<typeof storm>>) {
  const unexpected: string[] = [];
  for (const [i, { key, answers }] of results.entries()) {
    const t = tracked[i] as Tracked;
    const created = answers.filter((a) => a?.status === 201);
    const ids = new Set(created.map((a) => a?.body.id));
    const others = answers.filter((a) => a?.status !== 201 && !(a?.status === 409 && a.body?.code === 'IDEMPOTENCY_REQUEST_IN_PROGRESS') && !shed(a));
    if (ids.size > 1 || others.length > 0) unexpected.push(`${key}: ${ids.size} payment ids, others ${others.map((a) => a?.status ?? 'no answer').join(',')}`);
    const retry = await client.pay(t.token, t.orderId, key);
    if (retry.status !== 201 || (ids.size === 1 && !ids.has(retry.body.id))) unexpected.push(`${key}: retry answered ${retry.status}`);
  }
  expect(unexpected).toEqual([]);
}

it('when 1,000 concurrent requests share one idempotency key per order over 100 keys, then each order is charged once and every answer is its 201 or 409 in progress', async () => {
  const tracked = await ordersToPay(client, 100);
  const before = client.sent;
  const results = await storm(tracked, 10);
  await expectOnePaymentPerKey(tracked, results);
  const { doubleCharges, lostEvents } = await assertInvariants(platform, client, tracked);
  const replays = results.flatMap((r) => r.answers).filter((a) => a?.headers.get('idempotent-replayed') === 'true').length;
  report({
    scenario: '1,000 concurrent requests, 10 per key over 100 keys',
    requests: client.sent - before,
    faults: 0,
    doubleCharges,
    lostEvents,
    note: `${replays} of the storm's answers were replays, ${results.flatMap((r) => r.answers).filter(shed).length} shed with 503; every key's retry replayed its 201`,
  });
});

it('when 1,000 concurrent requests share one idempotency key, then the order is charged once and the key answers one payment', async () => {
  const tracked = await ordersToPay(client, 1);
  const before = client.sent;
  const results = await storm(tracked, 1_000);
  await expectOnePaymentPerKey(tracked, results);
  const { doubleCharges, lostEvents } = await assertInvariants(platform, client, tracked);
  const answers = results[0]?.answers ?? [];
  report({
    scenario: '1,000 concurrent requests on one key',
    requests: client.sent - before,
    faults: 0,
    doubleCharges,
    lostEvents,
    note: `${answers.filter((a) => a?.status === 201).length} × 201, ${answers.filter((a) => a?.status === 409).length} × 409 in progress, ${answers.filter(shed).length} × 503 shed (${[...new Set(answers.filter(shed).map((a) => a?.body.detail))].join('; ')})`,
  });
});
