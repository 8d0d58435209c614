import { closeAll, deadRedis, testKeys, testRedis } from '../test/redis';
import { createAdmission } from './admission';
import type { RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import { createRateLimiter } from './rate-limiter';
import { createRevocation } from './revocation';

let client: RedisClient;

beforeAll(async () => {
  client = await testRedis();
});
afterAll(() => closeAll(client));

function admissionOn(c: RedisClient, failMode: 'open' | 'closed' = 'closed', label = 'admission') {
  const keys = testKeys(label);
  const revocation = createRevocation({ client: c, keys, failMode });
  const limiter = createRateLimiter({ client: c, keys, policies: { default: { limit: 3, windowSeconds: 60, failMode } } });
  return { keys, revocation, limiter, admission: createAdmission({ client: c, revocation, limiter }) };
}

const token = (userId: string, jti = 'j1', sessionId = 's1') => ({ userId, jti, sessionId, issuedAtMs: Date.now() - 1_000 });
const inAMinute = () => Math.floor(Date.now() / 1000) + 60;

describe('admission (revocation + rate limit in one command)', () => {
  it('when a valid token checks in, then it is not revoked and the limit counts down, until refused', async () => {
    const { admission } = admissionOn(client);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await admission.check(token('u1'), 'default'));
    expect(answers.map((a) => a.revoked)).toEqual([false, false, false, false]);
    expect(answers.map((a) => a.limit?.allowed)).toEqual([true, true, true, false]);
    expect(answers.map((a) => a.limit?.remaining)).toEqual([2, 1, 0, 0]);
  });

  it('when the token, its session or all the user tokens are revoked, then it says so', async () => {
    const { admission, revocation } = admissionOn(client);
    await revocation.revokeToken('u2', 'gone', inAMinute());
    expect((await admission.check(token('u2', 'gone'), 'default')).revoked).toBe(true);
    expect((await admission.check(token('u2', 'kept'), 'default')).revoked).toBe(false);
    await revocation.revokeSession('u2', 's-gone', inAMinute());
    expect((await admission.check(token('u2', 'kept', 's-gone'), 'default')).revoked).toBe(true);
    expect((await admission.check(token('u2', 'kept', 's-kept'), 'default')).revoked).toBe(false);
    await revocation.revokeAllBefore('u2');
    expect((await admission.check(token('u2', 'kept', 's-kept'), 'default')).revoked).toBe(true);
  });

  it('when a revoked token checks in, then it takes nothing from its user\'s budget', async () => {
    const { admission, revocation, limiter } = admissionOn(client);
    await revocation.revokeToken('u9', 'stolen', inAMinute());
    for (let i = 0; i < 5; i++) expect(await admission.check(token('u9', 'stolen'), 'default')).toEqual({ revoked: true });
    expect(await limiter.check('default', 'user:u9')).toMatchObject({ allowed: true, remaining: 2 });
  });

  it('when a token was issued after the cutoff, then it is not revoked by it', async () => {
    const { admission, revocation } = admissionOn(client);
    const cutoff = await revocation.revokeAllBefore('u10', Date.now() - 10_000);
    expect((await admission.check({ ...token('u10'), issuedAtMs: cutoff }, 'default')).revoked).toBe(true);
    expect((await admission.check({ ...token('u10'), issuedAtMs: cutoff + 1 }, 'default')).revoked).toBe(false);
  });

  it('when it checks, then the revocation and limiter keys share one slot, so the script runs on one node of a cluster too', () => {
    const { keys } = admissionOn(client);
    // Redis Cluster hashes only what is inside the first {...}: one tag, one slot.
    const tags = [keys.revokedToken('u3', 'j'), keys.revokedSession('u3', 's'), keys.revokedBefore('u3'), keys.rateLimit('default', 'user:u3')].map((k) => /\{([^}]*)\}/.exec(k)?.[1]);
    expect(new Set(tags)).toEqual(new Set(['user:u3']));
  });

  it('when the user is over the limit (answered by the local deny cache), then the script still checks revocation', async () => {
    const { admission, revocation } = admissionOn(client);
    for (let i = 0; i < 4; i++) await admission.check(token('u7'), 'default');
    await revocation.revokeToken('u7', 'late', inAMinute());
    expect(await admission.check(token('u7', 'late'), 'default')).toEqual({ revoked: true });
    expect(await admission.check(token('u7', 'other'), 'default')).toMatchObject({ revoked: false, limit: { allowed: false, remaining: 0 } });
  });

  (process.env['REDIS_CLUSTER_NODES'] ? it.skip : it)('when a route declares reads, then their values come back with the check, in order, null for a missing key', async () => {
    const { admission, keys } = admissionOn(client);
    const [present, missing] = [keys.cache('orders:a').value, keys.cache('orders:b').value];
    await client.set(present, '{"id":"a"}', 'EX', 60);
    const answer = await admission.check(token('u6'), 'default', [present, missing]);
    expect(answer).toEqual({ revoked: false, limit: expect.objectContaining({ allowed: true, remaining: 2 }), reads: ['{"id":"a"}', null] });
  });

  (process.env['REDIS_CLUSTER_NODES'] ? it : it.skip)('when a route declares reads on a cluster, then they are not joined (their keys live elsewhere) and the check still answers', async () => {
    const { admission, keys } = admissionOn(client);
    const answer = await admission.check(token('u6'), 'default', [keys.cache('orders:a').value]);
    expect(answer).toMatchObject({ revoked: false, limit: { allowed: true } });
    expect(answer.reads).toBeUndefined();
  });

  it('when many users are checked in the same tick, then every check answers (on a cluster their scripts go to different slots)', async () => {
    const { admission } = admissionOn(client);
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => admission.check(token(`many-${i}`), 'default')));
    expect(answers.map((a) => a.revoked)).toEqual(answers.map(() => false));
    expect(answers.every((a) => a.limit?.allowed === true && !a.limit.degraded)).toBe(true);
  });

  it('when Redis is down, then it answers at once in each fail mode', async () => {
    const dead = deadRedis();
    try {
      const closed = admissionOn(dead, 'closed').admission;
      const started = performance.now();
      await expect(closed.check(token('u5'), 'default')).rejects.toBeInstanceOf(RedisUnavailableError);
      const open = admissionOn(dead, 'open').admission;
      const answer = await open.check(token('u5'), 'default');
      expect(answer).toMatchObject({ revoked: false, limit: { allowed: true, degraded: true } });
      expect(performance.now() - started).toBeLessThan(200);
    } finally {
      dead.disconnect();
    }
  });
});
