import { Registry } from 'prom-client';
import { closeAll, deadRedis, testKeys, testRedis } from '../test/redis';
import type { RedisClient } from './client';
import { LockLostError, LockNotAcquiredError, RedisUnavailableError } from './errors';
import { createLock, LOCK_DEFAULTS, type LockManager } from './lock';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const first = <T>(xs: T[]): T => {
  if (xs.length === 0) throw new Error('expected at least one element');
  return xs[0] as T;
};

describe('createLock', () => {
  let clients: [RedisClient, RedisClient, RedisClient];
  let locks: [LockManager, LockManager, LockManager];
  let keys: ReturnType<typeof testKeys>;

  beforeAll(async () => {
    clients = [await testRedis(), await testRedis(), await testRedis()];
  });
  afterAll(() => closeAll(...clients));
  const instance = (i: number) => locks[i % 3] as LockManager;
  beforeEach(() => {
    keys = testKeys('lock');
    locks = [createLock({ client: clients[0], keys }), createLock({ client: clients[1], keys }), createLock({ client: clients[2], keys })];
  });

  it('when 20 acquires race over 3 instances, then exactly one holds the lock', async () => {
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => instance(i).acquire('race', { ttlMs: 5_000 })));
    const held = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(held).toHaveLength(1);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(LockNotAcquiredError);
    expect((first(refused) as PromiseRejectedResult).reason.retryAfterMs).toBeGreaterThan(0);
  });

  it('when the lock is acquired again and again, then the fence strictly increases', async () => {
    const fences: number[] = [];
    for (let i = 0; i < 5; i++) {
      const lock = await instance(i).acquire('fenced', { ttlMs: 1_000 });
      fences.push(lock.fence);
      await instance(i).release(lock);
    }
    expect(fences).toEqual([...fences].sort((a, b) => a - b));
    expect(new Set(fences).size).toBe(fences.length);
    expect(Number.isSafeInteger(first(fences))).toBe(true);
  });

  it('when the lock and fence counter are written, then both carry a TTL, the counter at most an hour', async () => {
    await locks[0].acquire('ttl', { ttlMs: 1_000 });
    const { lock, fence } = keys.lock('ttl');
    expect(await clients[0].pttl(lock)).toBeGreaterThan(0);
    expect(await clients[0].pttl(fence)).toBeGreaterThan(1_000);
    expect(await clients[0].pttl(fence)).toBeLessThanOrEqual(LOCK_DEFAULTS.fenceTtlMs);
    expect(LOCK_DEFAULTS.fenceTtlMs).toBeLessThanOrEqual(3_600_000);
  });

  it('when the fence counter expired, then the next fence is still above every fence handed out before', async () => {
    const fences: number[] = [];
    for (let i = 0; i < 5; i++) {
      const lock = await instance(i).acquire('restarted', { ttlMs: 1_000 });
      fences.push(lock.fence);
      await instance(i).release(lock);
    }
    // The restart holds while acquires came less than once per ms under the old counter: the pause
    // makes sure of it here, as a holder's own work does in use.
    await sleep(10);
    await clients[0].pexpire(keys.lock('restarted').fence, 1);
    await sleep(10);
    expect(await clients[0].exists(keys.lock('restarted').fence)).toBe(0);
    const after = await locks[0].acquire('restarted', { ttlMs: 1_000 });
    expect(after.fence).toBeGreaterThan(Math.max(...fences));
  });

  it('when someone else releases or extends the lock, then it is refused and the lock stays', async () => {
    const lock = await locks[0].acquire('owned', { ttlMs: 2_000 });
    const impostor = { ...lock, token: 'not-the-owner' };
    await expect(locks[1].release(impostor)).resolves.toBe(false);
    await expect(locks[1].extend(impostor, 10_000)).rejects.toBeInstanceOf(LockLostError);
    expect(await clients[0].get(keys.lock('owned').lock)).toBe(lock.token);
    expect(await clients[0].pttl(keys.lock('owned').lock)).toBeLessThanOrEqual(2_000);
    await expect(locks[0].release(lock)).resolves.toBe(true);
    await expect(locks[0].release(lock)).resolves.toBe(false);
  });

  it('when the owner extends the lock, then it lives longer', async () => {
    const lock = await locks[0].acquire('extended', { ttlMs: 500 });
    const extended = await locks[0].extend(lock, 5_000);
    expect(extended.expiresAt).toBeGreaterThan(lock.expiresAt);
    expect(await clients[0].pttl(keys.lock('extended').lock)).toBeGreaterThan(1_000);
  });

  it('when the holder lets the lock expire, then another instance acquires it, waiting if asked', async () => {
    // Long enough that a pause of the machine between the first two calls cannot expire it (150 ms once did).
    const first = await locks[0].acquire('expiring', { ttlMs: 1_000 });
    await expect(locks[1].acquire('expiring', { ttlMs: 1_000 })).rejects.toBeInstanceOf(LockNotAcquiredError);
    const second = await locks[1].acquire('expiring', { ttlMs: 1_000, waitMs: 3_000 });
    expect(second.fence).toBeGreaterThan(first.fence);
    await expect(locks[0].extend(first, 1_000)).rejects.toBeInstanceOf(LockLostError);
  });

  it('when fn runs longer than the TTL, then withLock keeps the lock and releases it at the end', async () => {
    const registry = new Registry();
    const lock = createLock({ client: clients[0], keys, registry });
    const result = await lock.withLock(
      'long',
      async ({ fence, signal }) => {
        await sleep(500);
        await expect(locks[1].acquire('long', { ttlMs: 1_000 })).rejects.toBeInstanceOf(LockNotAcquiredError);
        expect(signal.aborted).toBe(false);
        return fence;
      },
      { ttlMs: 150 },
    );
    expect(result).toBeGreaterThan(0);
    expect(await clients[0].exists(keys.lock('long').lock)).toBe(0);
    expect(await registry.getSingleMetricAsString('redis_lock_acquire_total')).toMatch(/result="acquired"} 1/);
  });

  it('when fn throws, then withLock releases the lock and rethrows', async () => {
    await expect(
      locks[0].withLock('throws', async () => {
        throw new Error('boom');
      }, { ttlMs: 5_000 }),
    ).rejects.toThrow('boom');
    expect(await clients[0].exists(keys.lock('throws').lock)).toBe(0);
  });

  it('when the lock is deleted behind withLock, then fn is told through its signal', async () => {
    let reason: unknown;
    await locks[0].withLock(
      'stolen',
      async ({ signal }) => {
        await clients[1].del(keys.lock('stolen').lock);
        const started = Date.now();
        while (!signal.aborted && Date.now() - started < 2_000) await sleep(20);
        reason = signal.reason;
      },
      { ttlMs: 300 },
    );
    expect(reason).toBeInstanceOf(LockLostError);
  });

  it('when Redis is unreachable, then acquire answers within 100 ms with a typed error', async () => {
    const dead = deadRedis();
    try {
      const lock = createLock({ client: dead, keys });
      const started = Date.now();
      await expect(lock.acquire('dead', { ttlMs: 1_000, waitMs: 5_000 })).rejects.toBeInstanceOf(RedisUnavailableError);
      await expect(lock.withLock('dead', async () => 1, { ttlMs: 1_000 })).rejects.toBeInstanceOf(RedisUnavailableError);
      expect(Date.now() - started).toBeLessThan(100);
    } finally {
      dead.disconnect();
    }
  });
});
