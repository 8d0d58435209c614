import { migrateUrl } from '@platform/db';
import { migrations } from '@platform/migrations/user-service';
import { keySpace, type RedisClient } from '@platform/redis';
import { testRedis } from '@platform/redis/testing';
import type { App } from '@platform/service-kit';
import { buildApp, eventually, startReplicatedMariadb, testKeyPrefix, type ReplicatedMariadb } from '@platform/testing';
import { definition } from '../src/app';
import { bearer, me, ROOMY_LIMITS, signUpAndIn } from './helper';

/*
 * user-service over a real MariaDB primary and replica (binlog + GTID): the profile's cache misses
 * read the replica, except for a user who just signed up or renamed themselves.
 */
const MAX_LAG_MS = 2_000;

let pair: ReplicatedMariadb;
let app: App;
let redis: RedisClient;
let schema: string;
const authPrefix = testKeyPrefix('auth');
const userPrefix = testKeyPrefix('user');

beforeAll(async () => {
  pair = await startReplicatedMariadb();
  const db = await pair.createDatabase('user_replicas');
  schema = db.name;
  await migrateUrl(db.primaryUrl, migrations);
  await pair.caughtUp();
  redis = await testRedis();
  app = await buildApp(definition, {
    DATABASE_URL: db.primaryUrl,
    DATABASE_REPLICA_URLS: db.replicaUrl,
    DB_REPLICA_MAX_LAG_MS: String(MAX_LAG_MS),
    REDIS_KEY_PREFIX: userPrefix,
    AUTH_REDIS_KEY_PREFIX: authPrefix,
    ...ROOMY_LIMITS,
  });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await redis?.quit();
  await pair?.stop();
});

async function metrics(): Promise<{ lagMs: number; reads: Record<string, number> }> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const lag = /^db_replica_lag_seconds\{[^}]*\} (\S+)$/m.exec(text)?.[1];
  const reads: Record<string, number> = {};
  for (const [, labels = '', n] of text.matchAll(/^db_reads_total\{([^}]*)\} (\d+)$/gm)) {
    reads[`${/source="(\w+)"/.exec(labels)?.[1]}:${/reason="([\w-]+)"/.exec(labels)?.[1]}`] = Number(n);
  }
  return { lagMs: lag === undefined || lag === '+Inf' ? Infinity : Number(lag) * 1000, reads };
}
const count = (m: { reads: Record<string, number> }, k: string) => m.reads[k] ?? 0;
const nameOnReplica = async (email: string) =>
  (await pair.replica.query<{ name: string }>('SELECT name FROM users WHERE email = ?', [email], schema))[0]?.name;
/** As if the user's last write were long past: its mark gone. */
const forgetWrites = (userId: string) => redis.del(keySpace(authPrefix).wrote(userId));
const dropCachedProfile = (userId: string) => redis.del(keySpace(userPrefix).cache(`users:${userId}`).value);

beforeEach(async () => {
  await pair.caughtUp();
  expect(await eventually(async () => (await metrics()).lagMs < MAX_LAG_MS / 4, 20_000, 50)).toBe(true);
});

it('when a user who wrote nothing lately misses the profile cache, then the replica answers', async () => {
  const { user, pair: tokens } = await signUpAndIn(app);
  await pair.caughtUp();
  await forgetWrites(user.id);
  const before = await metrics();
  const res = await me(app, tokens.accessToken);
  expect(res.statusCode).toBe(200);
  expect(res.json()).toMatchObject({ id: user.id, name: 'Ada Lovelace' });
  expect(count(await metrics(), 'replica:fresh') - count(before, 'replica:fresh')).toBe(1);
});

describe('when the replica stops applying (lag injected)', () => {
  afterEach(() => pair.resumeApplying());

  it('then a user who just signed up reads their profile, and one who renamed themselves reads the new name, from the primary', async () => {
    const renamer = await signUpAndIn(app);
    await pair.caughtUp();
    await forgetWrites(renamer.user.id);
    expect((await me(app, renamer.pair.accessToken)).json()).toMatchObject({ name: 'Ada Lovelace' });
    await pair.stopApplying();

    const newcomer = await signUpAndIn(app);
    const patched = await app.inject({ method: 'PATCH', url: '/v1/users/me', headers: bearer(renamer.pair.accessToken), payload: { name: 'Grace Hopper' } });
    expect(patched.statusCode).toBe(200);
    const before = await metrics();
    expect(before.lagMs).toBeLessThan(MAX_LAG_MS);
    // The replica has neither change; it is within the bound, so only the marks keep these reads on the primary.
    expect(await nameOnReplica(newcomer.user.email)).toBeUndefined();
    expect(await nameOnReplica(renamer.user.email)).toBe('Ada Lovelace');
    expect((await me(app, newcomer.pair.accessToken)).json()).toMatchObject({ id: newcomer.user.id });
    expect((await me(app, renamer.pair.accessToken)).json()).toMatchObject({ name: 'Grace Hopper' });
    // And again after the cache entry is gone: still the primary, still the new name.
    await dropCachedProfile(renamer.user.id);
    expect((await me(app, renamer.pair.accessToken)).json()).toMatchObject({ name: 'Grace Hopper' });
    const after = await metrics();
    expect(after.lagMs).toBeLessThan(MAX_LAG_MS);
    expect(count(after, 'primary:wrote') - count(before, 'primary:wrote')).toBe(3);
    expect(count(after, 'replica:fresh') - count(before, 'replica:fresh')).toBe(0);
  });
});
