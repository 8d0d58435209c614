import { setTimeout as sleep } from 'node:timers/promises';
import { startRedisServer } from '../test/redis-server';
import { Registry } from 'prom-client';
import { closeAll, deadRedis, testKeys, testRedis } from '../test/redis';
import { createRedisClient, type RedisClient } from './client';
import { RateLimitedError, RedisUnavailableError } from './errors';
import type { KeySpace } from './keys';
import { createRateLimiter, type RateLimitPolicy } from './rate-limiter';

/** Three instances of a service, each with its own connection. */
let a: RedisClient;
let b: RedisClient;
let c: RedisClient;

beforeAll(async () => {
  [a, b, c] = await Promise.all([testRedis(), testRedis(), testRedis()]);
});

afterAll(() => closeAll(a, b, c));

const policy = (limit: number, windowSeconds: number, failMode: 'open' | 'closed' = 'open'): RateLimitPolicy => ({ limit, windowSeconds, failMode });

function limiterOn(client: RedisClient, keys: KeySpace, policies: Record<string, RateLimitPolicy>, registry?: Registry) {
  return createRateLimiter({ client, keys, policies, registry });
}

/** Counts the commands a client sends (one per round trip here: nothing is pipelined). */
async function commandsSent<T>(client: RedisClient, run: () => Promise<T>): Promise<{ result: T; commands: string[] }> {
  const send = jest.spyOn(client, 'sendCommand');
  try {
    const result = await run();
    return { result, commands: send.mock.calls.map(([command]) => command.name) };
  } finally {
    send.mockRestore();
  }
}

describe('rate limiter', () => {
  it('when 500 checks race over 3 instances on a limit of 100, then exactly 100 are allowed', async () => {
    const keys = testKeys('rl');
    // A long window: no request's worth of quota comes back while the race runs.
    const limiters = [a, b, c].map((client) => limiterOn(client, keys, { default: policy(100, 3600) }));
    const results = await Promise.all(limiters.flatMap((limiter, i) => Array.from({ length: i === 0 ? 168 : 166 }, () => limiter.check('default', 'ip:1'))));
    expect(results).toHaveLength(500);
    expect(results.filter((r) => r.allowed)).toHaveLength(100);
    expect(results.filter((r) => !r.allowed).every((r) => r.remaining === 0 && r.retryAfterSeconds >= 1)).toBe(true);
  });

  it('when the quota was spent at once, then half a window later only half a quota is back, not a second full burst', async () => {
    const keys = testKeys('rl');
    const limiter = limiterOn(a, keys, { burst: policy(5, 2) });
    const first = await Promise.all(Array.from({ length: 6 }, () => limiter.check('burst', 'u')));
    expect(first.map((r) => r.allowed)).toEqual([true, true, true, true, true, false]);

    await sleep(1_000);
    // A fresh instance: the first one's local deny cache plays no part in the answer.
    const other = limiterOn(b, keys, { burst: policy(5, 2) });
    const second = await Promise.all(Array.from({ length: 5 }, () => other.check('burst', 'u')));
    // One request every 400 ms comes back: 2 after 1 s, where a fixed window would give 5.
    expect(second.filter((r) => r.allowed)).toHaveLength(2);
  });

  it('when requests use up a quota, then remaining, reset and retry-after count down as the RateLimit fields expect', async () => {
    const keys = testKeys('rl');
    const limiter = limiterOn(a, keys, { default: policy(3, 60) });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await limiter.check('default', 'u'));
    expect(answers.slice(0, 3)).toEqual([
      { allowed: true, limit: 3, remaining: 2, resetSeconds: 20, retryAfterSeconds: 0 },
      { allowed: true, limit: 3, remaining: 1, resetSeconds: 40, retryAfterSeconds: 0 },
      { allowed: true, limit: 3, remaining: 0, resetSeconds: 60, retryAfterSeconds: 0 },
    ]);
    expect(answers[3]).toEqual({ allowed: false, limit: 3, remaining: 0, resetSeconds: 60, retryAfterSeconds: 20 });
  });

  it('when a subject is checked, then its key expires when its state stops mattering', async () => {
    const keys = testKeys('rl');
    const limiter = limiterOn(a, keys, { default: policy(4, 10) });
    await limiter.check('default', 'u');
    const one = await a.pttl(keys.rateLimit('default', 'u'));
    expect(one).toBeGreaterThan(2_400);
    expect(one).toBeLessThanOrEqual(2_500);
    for (let i = 0; i < 4; i++) await limiter.check('default', 'u');
    const full = await a.pttl(keys.rateLimit('default', 'u'));
    expect(full).toBeGreaterThan(9_900);
    expect(full).toBeLessThanOrEqual(10_000);
  });

  it('when policies differ, then each keeps its own quota for the same subject', async () => {
    const keys = testKeys('rl');
    const limiter = limiterOn(a, keys, { default: policy(1, 60), login: policy(1, 60) });
    expect((await limiter.check('default', 'ip:1')).allowed).toBe(true);
    expect((await limiter.check('login', 'ip:1')).allowed).toBe(true);
    expect((await limiter.check('login', 'ip:2')).allowed).toBe(true);
    expect((await limiter.check('login', 'ip:1')).allowed).toBe(false);
  });

  it('when a check is allowed, then it costs one script call', async () => {
    const keys = testKeys('rl');
    const limiter = limiterOn(a, keys, { default: policy(10, 60) });
    await limiter.check('default', 'warm-up'); // loads the script on a first run (EVALSHA, then EVAL)
    const { result, commands } = await commandsSent(a, () => limiter.check('default', 'u'));
    expect(result.allowed).toBe(true);
    expect(commands).toEqual(['evalsha']);
  });

  (process.env['REDIS_CLUSTER_NODES'] ? it.skip : it)('when Redis has lost its scripts (restart, SCRIPT FLUSH), then a check loads it again and still answers', async () => {
    // A private redis-server, so flushing its scripts disturbs no other test file.
    const server = await startRedisServer();
    const own = createRedisClient({ url: server.url, commandTimeoutMs: 2_000 });
    try {
      await new Promise((resolve) => own.once('ready', resolve));
      const limiter = limiterOn(own, testKeys('rl'), { p: policy(2, 60) });
      expect((await limiter.check('p', 's')).allowed).toBe(true);
      await own.script('FLUSH');
      const { result, commands } = await commandsSent(own, () => limiter.check('p', 's'));
      expect(commands).toEqual(['evalsha', 'eval']);
      expect(result).toMatchObject({ allowed: true, remaining: 0 });
      expect((await commandsSent(own, () => limiter.check('p', 't'))).commands).toEqual(['evalsha']);
    } finally {
      own.disconnect();
      await server.stop();
    }
  });

  it('when a subject is over its limit, then it is denied without a round trip until its retry time, then checked again', async () => {
    const keys = testKeys('rl');
    const registry = new Registry();
    const limiter = limiterOn(a, keys, { default: policy(2, 1) }, registry);
    await limiter.check('default', 'u');
    await limiter.check('default', 'u');
    const { result: denial, commands: first } = await commandsSent(a, () => limiter.check('default', 'u'));
    expect(denial.allowed).toBe(false);
    expect(first).toEqual(['evalsha']);

    const { result: local, commands } = await commandsSent(a, async () => {
      const answers = [];
      for (let i = 0; i < 20; i++) answers.push(await limiter.check('default', 'u'));
      return answers;
    });
    expect(commands).toEqual([]);
    expect(local.every((r) => !r.allowed && r.remaining === 0 && r.retryAfterSeconds === 1)).toBe(true);
    // Another subject is not held up by it.
    expect((await limiter.check('default', 'v')).allowed).toBe(true);

    await sleep(550);
    const { result: later, commands: again } = await commandsSent(a, () => limiter.check('default', 'u'));
    expect(later.allowed).toBe(true);
    expect(again).toEqual(['evalsha']);
    expect(await registry.getSingleMetricAsString('rate_limit_rejections_total')).toContain('rate_limit_rejections_total{policy="default"} 21');
    expect(await registry.getSingleMetricAsString('rate_limit_local_denials_total')).toContain('{policy="default"} 20');
  });

  it('when enforce is refused, then it throws RateLimitedError naming the policy and the retry time', async () => {
    const limiter = limiterOn(a, testKeys('rl'), { login: policy(1, 30) });
    await expect(limiter.enforce('login', 'u')).resolves.toMatchObject({ allowed: true, remaining: 0 });
    await expect(limiter.enforce('login', 'u')).rejects.toEqual(expect.objectContaining({ name: 'RateLimitedError', policy: 'login', retryAfterSeconds: 30 }));
    await expect(limiter.enforce('login', 'u')).rejects.toBeInstanceOf(RateLimitedError);
  });

  it('when a policy is unknown or malformed, then the limiter refuses it', async () => {
    const keys = testKeys('rl');
    const limiter = limiterOn(a, keys, { default: policy(1, 60) });
    await expect(limiter.check('nope', 'u')).rejects.toThrow(RangeError);
    expect(() => limiterOn(a, keys, { bad: policy(0, 60) })).toThrow(RangeError);
    expect(() => limiterOn(a, keys, { bad: policy(1.5, 60) })).toThrow(RangeError);
    expect(() => limiterOn(a, keys, { bad: policy(1, 0) })).toThrow(RangeError);
  });

  describe('when Redis is down', () => {
    let dead: RedisClient;
    beforeAll(() => {
      dead = deadRedis();
    });
    afterAll(() => dead.disconnect());

    async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; outcome: T | unknown }> {
      const started = performance.now();
      const outcome = await run().catch((err: unknown) => err);
      return { ms: performance.now() - started, outcome };
    }

    it('when the policy fails open, then each check is allowed within 100 ms, counted and logged', async () => {
      const registry = new Registry();
      const warn = jest.fn();
      const limiter = createRateLimiter({ client: dead, keys: testKeys('rl'), policies: { default: policy(1, 60, 'open') }, registry, logger: { warn } });
      for (let i = 0; i < 3; i++) {
        const { ms, outcome } = await timed(() => limiter.check('default', 'u'));
        expect(outcome).toMatchObject({ allowed: true, degraded: true });
        expect(ms).toBeLessThan(100);
      }
      expect(await registry.getSingleMetricAsString('rate_limit_redis_errors_total')).toContain('{policy="default",fail_mode="open"} 3');
      expect(warn).toHaveBeenCalledTimes(1);
    });

    it('when the policy fails closed, then each check throws RedisUnavailableError within 100 ms', async () => {
      const registry = new Registry();
      const limiter = limiterOn(dead, testKeys('rl'), { login: policy(1, 60, 'closed') }, registry);
      for (let i = 0; i < 3; i++) {
        const { ms, outcome } = await timed(() => limiter.check('login', 'u'));
        expect(outcome).toBeInstanceOf(RedisUnavailableError);
        expect(ms).toBeLessThan(100);
      }
      expect(await registry.getSingleMetricAsString('rate_limit_redis_errors_total')).toContain('{policy="login",fail_mode="closed"} 3');
    });
  });
});
