import { closeAll, deadRedis, testKeys, testRedis } from '../test/redis';
import type { RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import { createLeases } from './leases';

let a: RedisClient;
let b: RedisClient;
beforeAll(async () => {
  [a, b] = await Promise.all([testRedis(), testRedis()]);
});
afterAll(() => closeAll(a, b));

/** Two instances' views of the same leases (two clients, the same keys). */
function pair(limit: number, leaseMs = 10_000) {
  const keys = testKeys('leases');
  return [a, b].map((client) => createLeases({ client, keys, name: 'streams', limit, leaseMs })) as [ReturnType<typeof createLeases>, ReturnType<typeof createLeases>];
}

describe('leases', () => {
  it('when holders on two instances reach the limit, then the next is refused on either; a release makes room; another subject is counted apart', async () => {
    const [one, two] = pair(3);
    expect(await Promise.all([one.acquire('u1', 'h1'), two.acquire('u1', 'h2'), one.acquire('u1', 'h3')])).toEqual([true, true, true]);
    expect([await one.acquire('u1', 'h4'), await two.acquire('u1', 'h4')]).toEqual([false, false]);
    // A holder already counted is taken again (a retry), not refused.
    expect(await two.acquire('u1', 'h2')).toBe(true);
    expect(await one.acquire('u2', 'x')).toBe(true);
    await two.release('u1', 'h1');
    expect(await one.acquire('u1', 'h4')).toBe(true);
  });

  it('when a lease is not renewed within its time, then it stops counting; renewed ones stay, at the limit too', async () => {
    const [one, two] = pair(2, 300);
    expect([await one.acquire('u', 'dead'), await two.acquire('u', 'alive')]).toEqual([true, true]);
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 150));
      await two.renew('u', ['alive']);
    }
    expect(await one.acquire('u', 'new')).toBe(true);
    expect(await one.acquire('u', 'more')).toBe(false);
  });

  it('when Redis lost the leases (FLUSHALL), then a renewal writes them back whatever the count', async () => {
    const keys = testKeys('leases');
    const leases = createLeases({ client: a, keys, name: 'streams', limit: 1, leaseMs: 10_000 });
    expect(await leases.acquire('u', 'h1')).toBe(true);
    await a.del(keys.leases('streams', 'u'));
    await leases.renew('u', ['h1']);
    expect(await leases.acquire('u', 'h2')).toBe(false);
    expect(await a.pttl(keys.leases('streams', 'u'))).toBeGreaterThan(9_000);
  });

  it('when Redis cannot be asked, then RedisUnavailableError', async () => {
    const dead = deadRedis();
    const leases = createLeases({ client: dead, keys: testKeys('leases'), name: 'streams', limit: 1, leaseMs: 1_000 });
    await expect(leases.acquire('u', 'h')).rejects.toBeInstanceOf(RedisUnavailableError);
    dead.disconnect();
  });
});
