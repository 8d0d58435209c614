import { generateSigningKey, signAccessToken, startJwksServer, type TestJwksServer } from '@platform/auth/testing';
import { migrateUrl, newId, uuidToBinary } from '@platform/db';
import { migrations } from '@platform/migrations/order-service';
import { keySpace, type RedisClient } from '@platform/redis';
import { testRedis } from '@platform/redis/testing';
import type { App } from '@platform/service-kit';
import { bearer, buildApp, eventually, startReplicatedMariadb, testKeyPrefix, uniqueSuffix, type ReplicatedMariadb } from '@platform/testing';
import { randomUUID } from 'node:crypto';
import { definition } from '../src/app';
import { ITEM, ROOMY_LIMITS, type OrderJson } from './helper';

/*
 * order-service over a real MariaDB primary and a real replica of it (binlog + GTID), with the
 * replica's applier stopped to lag it, and killed. The bound is 2 s here, so "within the bound"
 * leaves room on a busy machine; a write mark then lives 5 s (2 x bound + 1 s).
 */
const MAX_LAG_MS = 2_000;
const MARK_TTL_MS = 2 * MAX_LAG_MS + 1_000;

let pair: ReplicatedMariadb;
let app: App;
let jwks: TestJwksServer;
let schema: string;
let redis: RedisClient;
const orderPrefix = testKeyPrefix('order');
const key = generateSigningKey();
const tokenFor = (userId: string = randomUUID()) => ({ userId, token: signAccessToken(key, { claims: { sub: userId } }) });

beforeAll(async () => {
  pair = await startReplicatedMariadb();
  schema = `t_replicas_${uniqueSuffix()}`;
  await pair.primary.query(`CREATE DATABASE \`${schema}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await migrateUrl(`${pair.primary.adminUrl}/${schema}`, migrations);
  await pair.caughtUp();
  jwks = await startJwksServer([key]);
  redis = await testRedis();
  app = await buildApp(definition, {
    DATABASE_URL: `${pair.primary.adminUrl}/${schema}`,
    DATABASE_REPLICA_URLS: `${pair.replica.adminUrl}/${schema}`,
    DB_REPLICA_MAX_LAG_MS: String(MAX_LAG_MS),
    REDIS_KEY_PREFIX: orderPrefix,
    AUTH_REDIS_KEY_PREFIX: testKeyPrefix('auth'),
    EVENTS_REDIS_KEY_PREFIX: testKeyPrefix('events'),
    USER_SERVICE_URL: new URL(jwks.url).origin,
    ...ROOMY_LIMITS,
  });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await jwks?.close();
  await redis?.quit();
  await pair?.stop();
});

const get = (url: string, token: string) => app.inject({ method: 'GET', url, headers: bearer(token) });
const post = (url: string, token: string, payload?: object) => app.inject({ method: 'POST', url, headers: bearer(token), ...(payload ? { payload } : {}) });
const listIds = async (token: string) => {
  const res = await get('/v1/orders', token);
  expect(res.statusCode).toBe(200);
  return res.json<{ data: OrderJson[] }>().data.map((o) => o.id);
};
/** The replica's lag as the app measures it (db_replica_lag_seconds; +Inf while unknown or down). */
async function lagMs(): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const value = /^db_replica_lag_seconds\{[^}]*\} (\S+)$/m.exec(text)?.[1];
  return value === undefined || value === '+Inf' ? Infinity : Number(value) * 1000;
}
const replicaFresh = () => eventually(async () => (await lagMs()) < MAX_LAG_MS / 4, 20_000, 50);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** db_reads_total by source and reason, from /metrics. */
async function reads(): Promise<Record<string, number>> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const counts: Record<string, number> = {};
  for (const [, labels = '', n] of text.matchAll(/^db_reads_total\{([^}]*)\} (\d+)$/gm)) {
    const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1];
    counts[`${label('source')}:${label('reason')}`] = Number(n);
  }
  return counts;
}
const delta = (before: Record<string, number>, after: Record<string, number>, k: string) => (after[k] ?? 0) - (before[k] ?? 0);

/** An order written on the primary behind the API's back: nobody is marked as its writer. */
async function insertDirectly(userId: string, status = 'PENDING'): Promise<string> {
  const id = newId();
  const now = new Date();
  await pair.primary.query(
    'INSERT INTO orders (id, user_id, status, currency, total_amount, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)',
    [uuidToBinary(id), uuidToBinary(userId), status, 'EUR', 2598, now, now],
    schema,
  );
  await pair.primary.query(
    'INSERT INTO order_items (order_id, line_no, sku, name, unit_price, quantity, line_total) VALUES (?, 1, ?, ?, ?, ?, ?)',
    [uuidToBinary(id), ITEM.sku, ITEM.name, ITEM.unitPrice, ITEM.quantity, 2598],
    schema,
  );
  return id;
}
const statusOnReplica = async (id: string) =>
  (await pair.replica.query<{ status: string }>('SELECT status FROM orders WHERE id = ?', [uuidToBinary(id)], schema))[0]?.status;

describe('order-service with a MySQL read replica', () => {
  beforeEach(async () => {
    await pair.caughtUp();
    expect(await replicaFresh()).toBe(true);
  });

  it('when the replica is within the bound, then a list and a cache miss of a user who wrote nothing are read from it', async () => {
    const { userId, token } = tokenFor();
    const id = await insertDirectly(userId);
    await pair.caughtUp();
    const before = await reads();
    expect(await listIds(token)).toEqual([id]);
    const res = await get(`/v1/orders/${id}`, token);
    expect(res.statusCode).toBe(200);
    expect(res.json<OrderJson>()).toMatchObject({ id, userId, status: 'PENDING' });
    const after = await reads();
    expect(delta(before, after, 'replica:fresh')).toBe(2);
    expect(delta(before, after, 'primary:wrote') + delta(before, after, 'primary:no-replica')).toBe(0);
  });

  describe('when the replica stops applying (lag injected)', () => {
    afterEach(() => pair.resumeApplying());

    it('then a client that just wrote reads its own writes, from the primary, while others are still read from the replica', async () => {
      const writer = tokenFor();
      const other = tokenFor();
      const otherOrder = await insertDirectly(other.userId);
      const cancelled = await insertDirectly(writer.userId);
      await pair.caughtUp();
      await pair.stopApplying();

      const before = await reads();
      const created = (await post('/v1/orders', writer.token, { currency: 'EUR', items: [ITEM] })).json<OrderJson>();
      expect((await post(`/v1/orders/${cancelled}/cancel`, writer.token)).statusCode).toBe(200);
      // The replica holds neither change, and is still within the bound: only the mark sends these to the primary.
      expect(await statusOnReplica(created.id)).toBeUndefined();
      expect(await statusOnReplica(cancelled)).toBe('PENDING');
      expect(await lagMs()).toBeLessThan(MAX_LAG_MS);
      expect(await listIds(writer.token)).toEqual([created.id, cancelled]);
      expect((await get(`/v1/orders/${cancelled}`, writer.token)).json<OrderJson>().status).toBe('CANCELLED');
      expect(await listIds(other.token)).toEqual([otherOrder]);
      expect(await lagMs()).toBeLessThan(MAX_LAG_MS);
      const after = await reads();
      expect(delta(before, after, 'primary:wrote')).toBe(2);
      expect(delta(before, after, 'replica:fresh')).toBe(1);
    });

    it('then a cache fill that reads the replica after a write never stores the older copy', async () => {
      const owner = tokenFor();
      const stranger = tokenFor();
      const id = await insertDirectly(owner.userId);
      await pair.caughtUp();
      // Cached as PENDING, from the replica.
      expect((await get(`/v1/orders/${id}`, owner.token)).json<OrderJson>().status).toBe('PENDING');
      await pair.stopApplying();
      expect((await post(`/v1/orders/${id}/cancel`, owner.token)).statusCode).toBe(200);
      // A caller who wrote nothing misses the cache; the replica it is allowed to read still says PENDING.
      expect(await lagMs()).toBeLessThan(MAX_LAG_MS);
      expect((await get(`/v1/orders/${id}`, stranger.token)).statusCode).toBe(404);
      expect(await statusOnReplica(id)).toBe('PENDING');
      // Past the owner's mark, whatever fills or serves the entry, it is the cancelled order.
      await sleep(MARK_TTL_MS + 200);
      expect((await get(`/v1/orders/${id}`, owner.token)).json<OrderJson>().status).toBe('CANCELLED');
      expect(await statusOnReplica(id)).toBe('PENDING');
    });

    it('then a change nobody was marked for may be missing from a list only until the lag passes the bound; then the primary answers', async () => {
      const { userId, token } = tokenFor();
      await pair.stopApplying();
      const id = await insertDirectly(userId);
      const seenAt = await lagMs();
      const stale = await listIds(token);
      expect(seenAt).toBeLessThan(MAX_LAG_MS);
      expect(await lagMs()).toBeLessThan(MAX_LAG_MS);
      expect(stale).toEqual([]);

      expect(await eventually(async () => (await lagMs()) > MAX_LAG_MS, 10_000, 50)).toBe(true);
      const before = await reads();
      expect(await listIds(token)).toEqual([id]);
      const after = await reads();
      expect(delta(before, after, 'primary:no-replica')).toBe(1);
      expect(delta(before, after, 'replica:fresh')).toBe(0);
      expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^db_replica_lag_seconds\{replica="127\.0\.0\.1:\d+"[^}]*\} \d+(\.\d+)?$/m);
    });
  });

  it('when the replica freezes, then a read that meets it answers from the primary within about one statement deadline, and the next ones at once', async () => {
    const { userId, token } = tokenFor();
    const id = await insertDirectly(userId);
    await pair.caughtUp();
    pair.freezeReplica();
    try {
      const took: number[] = [];
      for (let i = 0; i < 8; i++) {
        const started = Date.now();
        expect(await listIds(token)).toEqual([id]);
        took.push(Date.now() - started);
      }
      // DB_QUERY_TIMEOUT_MS (1 s) and the client's 250 ms grace, for the first read at most.
      expect(Math.max(...took)).toBeLessThan(2_500);
      expect(took.slice(1).every((ms) => ms < 500)).toBe(true);
    } finally {
      pair.thawReplica();
    }
  });

  it('when the replica is killed, then every read falls back to the primary and keeps answering, and the service stays ready', async () => {
    const { userId, token } = tokenFor();
    const id = await insertDirectly(userId);
    await pair.caughtUp();
    await pair.killReplica();
    const before = await reads();
    const statuses: number[] = [];
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      expect(await listIds(token)).toEqual([id]);
      // A cache miss each time: the entry is dropped first.
      await redis.del(keySpace(orderPrefix).cache(`orders:${id}`).value);
      statuses.push((await get(`/v1/orders/${id}`, token)).statusCode);
    }
    expect(statuses.length).toBeGreaterThan(5);
    expect(statuses.every((s) => s === 200)).toBe(true);
    const after = await reads();
    expect(delta(before, after, 'replica:fresh')).toBe(0);
    expect(delta(before, after, 'primary:replica-failed') + delta(before, after, 'primary:no-replica')).toBe(2 * statuses.length);
    expect(await lagMs()).toBe(Infinity);
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });
});
