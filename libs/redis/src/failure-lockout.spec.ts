import { Registry } from 'prom-client';
import { closeAll, deadRedis, testKeys, testRedis } from '../test/redis';
import type { RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import { createFailureLockout, type FailureLockoutOptions } from './failure-lockout';

/** Three instances of a service, each with its own connection. */
let a: RedisClient;
let b: RedisClient;
let c: RedisClient;

beforeAll(async () => {
  [a, b, c] = await Promise.all([testRedis(), testRedis(), testRedis()]);
});
afterAll(() => closeAll(a, b, c));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function lockouts(options: Partial<FailureLockoutOptions> = {}) {
  const keys = testKeys('lockout');
  const base = { keys, name: 'login', maxFailures: 5, windowSeconds: 900, ...options };
  return { keys, on: [a, b, c].map((client) => createFailureLockout({ client, ...base })) };
}

describe('failure lockout', () => {
  it('when the fifth failure arrives, then it locks the subject for the whole window, on every instance', async () => {
    const { on } = lockouts();
    const [x, y, z] = on as [ReturnType<typeof createFailureLockout>, ReturnType<typeof createFailureLockout>, ReturnType<typeof createFailureLockout>];
    for (const [i, lockout] of [x, y, z, x].entries()) {
      expect(await lockout.recordFailure('acct-1')).toEqual({ locked: false, retryAfterSeconds: 0, failures: i + 1 });
    }
    expect(await z.check('acct-1')).toEqual({ locked: false, retryAfterSeconds: 0 });
    expect(await y.recordFailure('acct-1')).toEqual({ locked: true, retryAfterSeconds: 900, failures: 5 });
    for (const lockout of [x, y, z]) expect(await lockout.check('acct-1')).toEqual({ locked: true, retryAfterSeconds: 900 });
    expect(await x.check('acct-2')).toEqual({ locked: false, retryAfterSeconds: 0 });
  });

  it('when 20 failures race over three instances on a limit of 5, then exactly 5 are logged and one locks', async () => {
    const registry = new Registry();
    const keys = testKeys('lockout');
    const racers = [a, b, c].map((client) => createFailureLockout({ client, keys, name: 'login', maxFailures: 5, windowSeconds: 60, registry }));
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (racers[i % 3] as (typeof racers)[number]).recordFailure('acct')));
    expect(answers.filter((r) => !r.locked)).toHaveLength(4);
    expect(await a.zcard(keys.failures('login', 'acct').log)).toBe(5);
    expect(await registry.getSingleMetricAsString('lockout_locked_total')).toMatch(/lockout_locked_total\{lockout="login"\} 1/);
  });

  it('when the window passes, then the lock lifts and old failures no longer count (the log slides)', async () => {
    const { on } = lockouts({ maxFailures: 2, windowSeconds: 1 });
    const lockout = on[0] as ReturnType<typeof createFailureLockout>;
    await lockout.recordFailure('acct');
    await sleep(600);
    await lockout.recordFailure('acct'); // the second within 1 s: locked
    expect(await lockout.check('acct')).toMatchObject({ locked: true });
    await sleep(1_100);
    expect(await lockout.check('acct')).toEqual({ locked: false, retryAfterSeconds: 0 });
    // Both earlier failures have aged out: one new failure is the first again.
    expect(await lockout.recordFailure('acct')).toEqual({ locked: false, retryAfterSeconds: 0, failures: 1 });
  });

  it('when failures keep coming while locked, then they neither count nor extend the lock', async () => {
    const { keys, on } = lockouts({ maxFailures: 1, windowSeconds: 2 });
    const lockout = on[0] as ReturnType<typeof createFailureLockout>;
    await lockout.recordFailure('acct');
    const before = await a.pttl(keys.failures('login', 'acct').lock);
    await sleep(300);
    expect(await lockout.recordFailure('acct')).toMatchObject({ locked: true, failures: 1 });
    expect(await a.pttl(keys.failures('login', 'acct').lock)).toBeLessThan(before);
  });

  it('when reset, then the failures and the lock are gone; every key it writes has a TTL', async () => {
    const { keys, on } = lockouts({ maxFailures: 2, windowSeconds: 60 });
    const lockout = on[0] as ReturnType<typeof createFailureLockout>;
    await lockout.recordFailure('acct');
    await lockout.recordFailure('acct');
    const k = keys.failures('login', 'acct');
    expect(await a.pttl(k.log)).toBeGreaterThan(0);
    expect(await a.pttl(k.lock)).toBeGreaterThan(0);
    await lockout.reset('acct');
    expect(await a.exists(k.log, k.lock)).toBe(0);
    expect(await lockout.check('acct')).toEqual({ locked: false, retryAfterSeconds: 0 });
  });

  it('when Redis is down, then closed mode throws and open mode lets the attempt through, within 100 ms', async () => {
    const dead = deadRedis();
    try {
      const keys = testKeys('lockout');
      const closed = createFailureLockout({ client: dead, keys, name: 'login', maxFailures: 5, windowSeconds: 60 });
      const open = createFailureLockout({ client: dead, keys, name: 'login', maxFailures: 5, windowSeconds: 60, failMode: 'open' });
      const timed = async <T>(run: () => Promise<T>) => {
        const started = performance.now();
        const outcome = await run().catch((err: unknown) => err);
        expect(performance.now() - started).toBeLessThan(100);
        return outcome;
      };
      expect(await timed(() => closed.check('acct'))).toBeInstanceOf(RedisUnavailableError);
      expect(await timed(() => closed.recordFailure('acct'))).toBeInstanceOf(RedisUnavailableError);
      expect(await timed(() => open.check('acct'))).toEqual({ locked: false, retryAfterSeconds: 0 });
      expect(await timed(() => open.recordFailure('acct'))).toEqual({ locked: false, retryAfterSeconds: 0, failures: 0 });
    } finally {
      dead.disconnect();
    }
  });

  it('when configured with no limit or no window, then it refuses to start', () => {
    expect(() => createFailureLockout({ client: a, keys: testKeys('x'), name: 'login', maxFailures: 0, windowSeconds: 60 })).toThrow(RangeError);
    expect(() => createFailureLockout({ client: a, keys: testKeys('x'), name: 'login', maxFailures: 5, windowSeconds: 0 })).toThrow(RangeError);
  });
});
