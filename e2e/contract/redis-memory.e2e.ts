import { randomUUID } from 'node:crypto';
import { eventually } from '../src/client';
import { signedUp, type Caller } from '../src/expect';
import { topologyFromEnv, type Topology } from '../src/platform';
import { firstNeeded, idBefore, keysUnder, platformRedis, type FoundKey, type PlatformRedis } from '../src/redis-keys';

/**
 * CONTRACT.md, "When parts fail": what the platform keeps in Redis for one order or payment all
 * expires within 25 hours (caches sooner), so memory stays bounded under `noeviction`. After a
 * whole order -> pay -> refund flow, and a cancel, every key under the run's prefixes (this
 * test's and those of the files running beside it) is checked against its bound; the keys that
 * are one per stream or per platform, not per order, against theirs (docs/operations.md).
 */
const topology = topologyFromEnv();
const local = topology.local;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

type Prefixes = NonNullable<Topology['local']>['prefixes'];
interface Bound {
  what: string;
  matches: (key: string) => boolean;
  maxMs: number;
}

/** The first that matches a key bounds it; the last matches every key. */
function bounds(p: Prefixes): Bound[] {
  const cached = (prefix: string, name: string, part = '') => (key: string) => key.startsWith(`${prefix}cache:{${name}:`) && key.endsWith(`}${part}`);
  return [
    { what: 'a cached order (10 minutes)', matches: cached(p.order, 'orders'), maxMs: 10 * MINUTE },
    { what: 'a cached user (5 minutes)', matches: cached(p.user, 'users'), maxMs: 5 * MINUTE },
    { what: 'a cache generation (10 minutes)', matches: (key) => /cache:\{.*\}:gen$/.test(key), maxMs: 10 * MINUTE },
    { what: 'a cache fill lock (2 s)', matches: (key) => /cache:\{.*\}:fill$/.test(key), maxMs: 2_000 },
    { what: 'a stream’s marker (one per stream, 7 days)', matches: (key) => key.startsWith(`${p.events}stream:`) && key.endsWith(':marker'), maxMs: 7 * DAY },
    { what: 'the revocation marker (one per platform, 7 days)', matches: (key) => key === `${p.auth}rev:{marker}`, maxMs: 7 * DAY },
    {
      what: 'a user’s sign-out-everywhere cutoff (one per user, the refresh-token lifetime)',
      matches: (key) => key.startsWith(`${p.auth}rev:{user:`) && key.endsWith('}:before'),
      maxMs: 30 * DAY,
    },
    { what: 'kept for an order, a payment or a request (25 hours)', matches: () => true, maxMs: 25 * HOUR },
  ];
}

/**
 * EVENTS_STREAM_MAX_LEN and EVENTS_STREAM_RETENTION_SECONDS at their defaults, and a day for dead
 * letters, each plus the minute between a consumer's trims and a blocked read's 5 s.
 */
const STREAM_MAX_LEN = 100_000;
const STREAM_KEEPS_DONE_MS = HOUR + 2 * MINUTE;
const DEAD_LETTERS_KEPT_MS = DAY + 2 * MINUTE;

/** What is wrong with one key, if anything: no TTL, or one above its bound. */
function keyProblem(k: FoundKey, all: Bound[]): string | undefined {
  if (k.type === 'stream' || k.pttl === -2) return undefined;
  if (k.pttl === -1) return `${k.key}: no TTL`;
  const bound = all.find((b) => b.matches(k.key)) as Bound;
  // PTTL 0 is a key within a millisecond of expiring (a short-lived one, such as a write mark, read at its end).
  return k.pttl <= bound.maxMs ? undefined : `${k.key}: PTTL ${k.pttl} ms, above ${bound.maxMs} ms for ${bound.what}`;
}

/**
 * Streams have no TTL: one per event type (and its dead letters), bounded by length, and by age once
 * every group is done with an entry (dead letters: once they are a day old).
 */
async function streamProblems(redis: PlatformRedis, stream: string): Promise<string[]> {
  const problems: string[] = [];
  const length = await redis.xlen(stream);
  // The dead-letter stream is capped near the bound (MAXLEN ~), within a node of 100 entries.
  const dead = stream.endsWith(':dead');
  const maxLen = dead ? STREAM_MAX_LEN + 100 : STREAM_MAX_LEN;
  if (length > maxLen) problems.push(`${stream}: ${length} entries, above ${maxLen}`);
  const oldest = (await redis.xrange(stream, '-', '+', 'COUNT', 1))[0]?.[0];
  if (!oldest) return problems;
  const needed = dead ? null : await firstNeeded(redis, stream);
  const ageMs = Date.now() - Number(oldest.split('-')[0]);
  const keptMs = dead ? DEAD_LETTERS_KEPT_MS : STREAM_KEEPS_DONE_MS;
  if ((needed === null || idBefore(oldest, needed)) && ageMs > keptMs) {
    problems.push(`${stream}: an entry no group needs is ${ageMs} ms old, above ${keptMs} ms`);
  }
  return problems;
}

const orderOf = ({ client, token }: Caller, id: string) => client.getOrder(token, id);
const becomes = (caller: Caller, id: string, status: string) => eventually(async () => (await orderOf(caller, id)).body?.status === status, 10_000, 100);

/** Sign-up, a keyed order paid and refunded in full, and a second order cancelled: the ids it used. */
async function wholeFlow(caller: Caller): Promise<{ orderId: string; cancelledId: string; paymentId: string }> {
  const { client, token } = caller;
  expect((await client.api(token).user.GET('/v1/users/me')).response.status).toBe(200);
  const created = await client.createOrder(token, undefined, randomUUID());
  expect(created.status).toBe(201);
  const orderId = created.body.id as string;
  expect((await orderOf(caller, orderId)).status).toBe(200);
  const paid = await client.pay(token, orderId);
  expect(paid.status).toBe(201);
  expect(await becomes(caller, orderId, 'PAID')).toBe(true);
  const paymentId = paid.body.id as string;
  const refunded = await client.refund(token, paymentId);
  expect(refunded.status).toBe(201);
  expect(await becomes(caller, orderId, 'REFUNDED')).toBe(true);
  expect((await client.api(token).payment.GET('/v1/payments/{id}', { params: { path: { id: paymentId } } })).response.status).toBe(200);
  const cancelledId = await client.newOrder(token);
  expect((await client.cancel(token, cancelledId)).status).toBe(200);
  expect((await orderOf(caller, cancelledId)).body.status).toBe('CANCELLED');
  return { orderId, cancelledId, paymentId };
}

// Against running instances given by URL (docker compose) the suite cannot see their Redis.
(local ? describe : describe.skip)('Redis memory', () => {
  let redis: PlatformRedis;
  beforeAll(async () => {
    redis = await platformRedis(local as NonNullable<Topology['local']>);
  });
  afterAll(() => redis?.disconnect());

  it('when an order is paid and refunded and another cancelled, then every key under the run’s prefixes expires within its bound, and streams stay within theirs', async () => {
    const prefixes = (local as NonNullable<Topology['local']>).prefixes;
    const caller = await signedUp(topology);
    const { orderId, cancelledId, paymentId } = await wholeFlow(caller);

    const keys = await keysUnder(redis, Object.values(prefixes));
    const ours = keys.filter((k) => [caller.user.id, orderId, cancelledId, paymentId].some((id) => k.key.includes(id)));
    // Written by the flow, so that the check below cannot pass for want of keys.
    for (const expected of [
      `${prefixes.order}cache:{orders:${cancelledId}}`,
      `${prefixes.user}cache:{users:${caller.user.id}}`,
      `${prefixes.auth}rl:{user:${caller.user.id}}:default`,
    ]) {
      expect(ours.map((k) => k.key)).toContain(expected);
    }
    const idempotency = ours.filter((k) => k.key.includes(':idem:'));
    expect(idempotency.map((k) => k.key.slice(0, k.key.indexOf(':idem:') + 6))).toEqual(expect.arrayContaining([`${prefixes.order}idem:`, `${prefixes.payment}idem:`]));
    expect(idempotency.length).toBeGreaterThanOrEqual(3);

    const all = bounds(prefixes);
    const problems = keys.map((k) => keyProblem(k, all)).filter((p): p is string => p !== undefined);
    for (const stream of keys.filter((k) => k.type === 'stream')) problems.push(...(await streamProblems(redis, stream.key)));
    expect(problems).toEqual([]);
  });
});
