import type { Redis } from 'ioredis';
import { closeAll, deadRedis, testKeys, testRedis } from '../test/redis';
import type { RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import { createRateLimiter } from './rate-limiter';
import { createRequestGuard } from './request-guard';
import { createRevocation } from './revocation';

let client: RedisClient;

beforeAll(async () => {
  client = await testRedis();
});
afterAll(() => closeAll(client));

function guardOn(c: RedisClient, failMode: 'open' | 'closed' = 'closed', label = 'guard') {
  const keys = testKeys(label);
  const revocation = createRevocation({ client: c, keys, failMode });
  const limiter = createRateLimiter({ client: c, keys, policies: { default: { limit: 3, windowSeconds: 60, failMode } } });
  return { keys, revocation, limiter, guard: createRequestGuard({ client: c, revocation, limiter }) };
}

const token = (userId: string, jti = 'j1', sessionId = 's1') => ({ userId, jti, sessionId, issuedAtMs: Date.now() - 1_000 });

describe('request guard (revocation + rate limit)', () => {
  it('when a valid token checks in, then it is not revoked and the limit counts down, until 429', async () => {
    const { guard } = guardOn(client);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await guard.check(token('u1'), 'default'));
    expect(answers.map((a) => a.revoked)).toEqual([false, false, false, false]);
    expect(answers.map((a) => a.limit.allowed)).toEqual([true, true, true, false]);
    expect(answers.map((a) => a.limit.remaining)).toEqual([2, 1, 0, 0]);
  });

  it('when the token, its session or all the user tokens are revoked, then the guard says so', async () => {
    const { guard, revocation } = guardOn(client);
    await revocation.revokeToken('u2', 'gone', Math.floor(Date.now() / 1000) + 60);
    expect((await guard.check(token('u2', 'gone'), 'default')).revoked).toBe(true);
    expect((await guard.check(token('u2', 'kept'), 'default')).revoked).toBe(false);
    await revocation.revokeSession('u2', 's-gone', Math.floor(Date.now() / 1000) + 60);
    expect((await guard.check(token('u2', 'kept', 's-gone'), 'default')).revoked).toBe(true);
    expect((await guard.check(token('u2', 'kept', 's-kept'), 'default')).revoked).toBe(false);
    await revocation.revokeAllBefore('u2');
    expect((await guard.check(token('u2', 'kept', 's-kept'), 'default')).revoked).toBe(true);
  });

  it('when it checks, then the revocation and limiter keys share one slot, so the pipeline is one round trip on a cluster too', () => {
    const { keys } = guardOn(client);
    // Redis Cluster hashes only what is inside the first {...}: one tag, one slot.
    const tags = [keys.revokedToken('u3', 'j'), keys.revokedSession('u3', 's'), keys.revokedBefore('u3'), keys.rateLimit('default', 'user:u3')].map((k) => /\{([^}]*)\}/.exec(k)?.[1]);
    expect(new Set(tags)).toEqual(new Set(['user:u3']));
  });

  (process.env['REDIS_CLUSTER_NODES'] ? it.skip : it)('when it checks on standalone Redis, then it writes to the socket once: one round trip', async () => {
    const { guard } = guardOn(client);
    const stream = (client as Redis).stream;
    const write = jest.spyOn(stream, 'write');
    try {
      await guard.check(token('u4'), 'default');
      expect(write).toHaveBeenCalledTimes(1);
    } finally {
      write.mockRestore();
    }
  });

  it('when Redis is down, then the guard answers at once in each fail mode', async () => {
    const dead = deadRedis();
    try {
      const closed = guardOn(dead, 'closed').guard;
      const started = performance.now();
      await expect(closed.check(token('u5'), 'default')).rejects.toBeInstanceOf(RedisUnavailableError);
      const open = guardOn(dead, 'open').guard;
      const answer = await open.check(token('u5'), 'default');
      expect(answer).toMatchObject({ revoked: false, limit: { allowed: true, degraded: true } });
      expect(performance.now() - started).toBeLessThan(200);
    } finally {
      dead.disconnect();
    }
  });

});
