import { Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { closeAll, deadRedis, settled, testKeys, testRedis } from '../test/redis';
import type { RedisClient } from './client';
import { laneOf } from './command-lane';
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

  it('when it checks, then the revocation and limiter keys share one slot, so the script runs on one node of a cluster too', () => {
    const { keys } = guardOn(client);
    // Redis Cluster hashes only what is inside the first {...}: one tag, one slot.
    const tags = [keys.revokedToken('u3', 'j'), keys.revokedSession('u3', 's'), keys.revokedBefore('u3'), keys.rateLimit('default', 'user:u3')].map((k) => /\{([^}]*)\}/.exec(k)?.[1]);
    expect(new Set(tags)).toEqual(new Set(['user:u3']));
  });

  (process.env['REDIS_CLUSTER_NODES'] ? it.skip : it)('when it checks on standalone Redis, then it writes to the socket once: one command, on the lane beside the client', async () => {
    const { guard } = guardOn(client);
    const lane = laneOf(client as Redis);
    await settled(() => lane.ready);
    const write = jest.spyOn(Socket.prototype, 'write');
    try {
      await guard.check(token('u4'), 'default');
      const ours = write.mock.contexts.filter((_, i) => String(write.mock.calls[i]?.[0]).includes('{user:u4}'));
      expect(ours).toHaveLength(1);
      expect(ours[0]).not.toBe((client as Redis).stream);
    } finally {
      write.mockRestore();
    }
  });

  (process.env['REDIS_CLUSTER_NODES'] ? it.skip : it)('when its lane is not connected yet, then the check goes over the client itself, with the same answer', async () => {
    const fresh = await testRedis();
    try {
      const { guard } = guardOn(fresh);
      expect(laneOf(fresh as Redis).ready).toBe(false);
      const write = jest.spyOn((fresh as Redis).stream, 'write');
      try {
        expect(await guard.check(token('u8'), 'default')).toMatchObject({ revoked: false, limit: { allowed: true, remaining: 2 } });
        expect(write).toHaveBeenCalledTimes(1);
      } finally {
        write.mockRestore();
      }
    } finally {
      await closeAll(fresh);
    }
  });

  (process.env['REDIS_CLUSTER_NODES'] ? it.skip : it)('when a route declares reads, then their values come back with the check, in order, null for a missing key', async () => {
    const { guard, keys } = guardOn(client);
    const [present, missing] = [`${keys.cache('orders:a').value}`, `${keys.cache('orders:b').value}`];
    await client.set(present, '{"id":"a"}', 'EX', 60);
    const taken: ((string | null)[] | undefined)[] = [];
    const answer = await guard.check(token('u6'), 'default', { keys: [present, missing], take: (values) => taken.push(values) });
    expect(answer).toMatchObject({ revoked: false, limit: { allowed: true, remaining: 2 } });
    expect(taken).toEqual([['{"id":"a"}', null]]);
  });

  (process.env['REDIS_CLUSTER_NODES'] ? it : it.skip)('when a route declares reads on a cluster, then they are not joined (their keys live elsewhere) and the check still answers', async () => {
    const { guard, keys } = guardOn(client);
    const take = jest.fn();
    const answer = await guard.check(token('u6'), 'default', { keys: [keys.cache('orders:a').value], take });
    expect(answer).toMatchObject({ revoked: false, limit: { allowed: true } });
    expect(take).not.toHaveBeenCalled();
  });

  it('when the user is over the limit (answered by the local deny cache), then the script still checks revocation', async () => {
    const { guard, revocation } = guardOn(client);
    for (let i = 0; i < 4; i++) await guard.check(token('u7'), 'default');
    await revocation.revokeToken('u7', 'late', Math.floor(Date.now() / 1000) + 60);
    const denied = await guard.check(token('u7', 'late'), 'default');
    expect(denied).toMatchObject({ revoked: true, limit: { allowed: false, remaining: 0 } });
    expect((await guard.check(token('u7', 'other'), 'default')).revoked).toBe(false);
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
