import { Registry } from 'prom-client';
import { closeAll, deadRedis, testKeys, testRedis } from '../test/redis';
import type { RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import { createRevocation } from './revocation';

let client: RedisClient;
let other: RedisClient;

beforeAll(async () => {
  [client, other] = await Promise.all([testRedis(), testRedis()]);
});

afterAll(() => closeAll(client, other));

const nowSeconds = () => Math.floor(Date.now() / 1000);

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; outcome: T | unknown }> {
  const started = performance.now();
  const outcome = await run().catch((err: unknown) => err);
  return { ms: performance.now() - started, outcome };
}

describe('token revocation', () => {
  it('when one token is revoked, then it is revoked for every instance until its exp, and its key expires then', async () => {
    const keys = testKeys('rev');
    const exp = nowSeconds() + 300;
    await createRevocation({ client, keys }).revokeToken('u1', 'jti-a', exp);

    const check = createRevocation({ client: other, keys });
    expect(await check.isRevoked({ userId: 'u1', jti: 'jti-a', sessionId: 's1', issuedAtMs: Date.now() - 1000 })).toBe(true);
    expect(await check.isRevoked({ userId: 'u1', jti: 'jti-b', sessionId: 's1', issuedAtMs: Date.now() - 1000 })).toBe(false);
    expect(await check.isRevoked({ userId: 'u2', jti: 'jti-a', sessionId: 's1', issuedAtMs: Date.now() - 1000 })).toBe(false);
    expect(await client.expiretime(keys.revokedToken('u1', 'jti-a'))).toBe(exp);
  });

  it('when a token is already expired, then revoking it writes nothing', async () => {
    const keys = testKeys('rev');
    await createRevocation({ client, keys }).revokeToken('u1', 'old', nowSeconds() - 1);
    expect(await client.exists(keys.revokedToken('u1', 'old'))).toBe(0);
  });

  it('when all tokens are revoked, then tokens issued up to the cutoff are revoked and one issued 1 ms later passes', async () => {
    const keys = testKeys('rev');
    const revocation = createRevocation({ client, keys, cutoffTtlSeconds: 3600 });
    const cutoff = Date.now();
    expect(await revocation.revokeAllBefore('u1', cutoff)).toBe(cutoff);

    const check = createRevocation({ client: other, keys });
    expect(await check.isRevoked({ userId: 'u1', jti: 'a', sessionId: 's1', issuedAtMs: cutoff - 60_000 })).toBe(true);
    expect(await check.isRevoked({ userId: 'u1', jti: 'b', sessionId: 's1', issuedAtMs: cutoff })).toBe(true);
    // Same second, one millisecond later: a token from the sign-in that followed the sign-out.
    expect(await check.isRevoked({ userId: 'u1', jti: 'c', sessionId: 's1', issuedAtMs: cutoff + 1 })).toBe(false);
    expect(await check.isRevoked({ userId: 'u2', jti: 'a', sessionId: 's1', issuedAtMs: cutoff - 60_000 })).toBe(false);
    const ttl = await client.ttl(keys.revokedBefore('u1'));
    expect(ttl).toBeGreaterThan(3590);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('when an older cutoff arrives after a newer one, then the newer one stays in force', async () => {
    const keys = testKeys('rev');
    const revocation = createRevocation({ client, keys });
    const newer = Date.now();
    await revocation.revokeAllBefore('u1', newer);
    expect(await revocation.revokeAllBefore('u1', newer - 5_000)).toBe(newer);
    expect(await revocation.isRevoked({ userId: 'u1', jti: 'x', sessionId: 's1', issuedAtMs: newer - 1 })).toBe(true);
    expect(await client.ttl(keys.revokedBefore('u1'))).toBeGreaterThan(29 * 24 * 3600);
  });

  it('when a session is revoked, then every token of that session is revoked until the given time, and no other session', async () => {
    const keys = testKeys('rev');
    const until = nowSeconds() + 900;
    await createRevocation({ client, keys }).revokeSession('u1', 's-gone', until);

    const check = createRevocation({ client: other, keys });
    const issuedAtMs = Date.now() - 1000;
    expect(await check.isRevoked({ userId: 'u1', jti: 'a', sessionId: 's-gone', issuedAtMs })).toBe(true);
    expect(await check.isRevoked({ userId: 'u1', jti: 'b', sessionId: 's-gone', issuedAtMs: Date.now() + 1000 })).toBe(true);
    expect(await check.isRevoked({ userId: 'u1', jti: 'a', sessionId: 's-kept', issuedAtMs })).toBe(false);
    expect(await check.isRevoked({ userId: 'u2', jti: 'a', sessionId: 's-gone', issuedAtMs })).toBe(false);
    expect(await client.expiretime(keys.revokedSession('u1', 's-gone'))).toBe(until);
  });

  it('when the same token is checked again after each kind of revocation, then each check asks Redis anew (its keys are kept, never its answer)', async () => {
    const keys = testKeys('rev');
    const check = createRevocation({ client: other, keys });
    const writer = createRevocation({ client, keys });
    const token = { userId: 'u1', jti: 'same', sessionId: 's1', issuedAtMs: Date.now() - 1000 };
    expect(await check.isRevoked(token)).toBe(false);
    expect(await check.isRevoked(token)).toBe(false);
    await writer.revokeSession('u1', 's1', nowSeconds() + 60);
    expect(await check.isRevoked(token)).toBe(true);
    // The same jti under another user and session: its own keys, not the ones kept for the first.
    expect(await check.isRevoked({ ...token, userId: 'u2', sessionId: 's2' })).toBe(false);
    await writer.revokeToken('u2', 'same', nowSeconds() + 60);
    expect(await check.isRevoked({ ...token, userId: 'u2', sessionId: 's2' })).toBe(true);
    expect(await check.isRevoked({ ...token, userId: 'u3', sessionId: 's3' })).toBe(false);
    await writer.revokeAllBefore('u3');
    expect(await check.isRevoked({ ...token, userId: 'u3', sessionId: 's3' })).toBe(true);
  });

  it('when a session is revoked with a time already past, then nothing is written', async () => {
    const keys = testKeys('rev');
    await createRevocation({ client, keys }).revokeSession('u1', 'old', nowSeconds() - 1);
    expect(await client.exists(keys.revokedSession('u1', 'old'))).toBe(0);
  });

  it('when a user has a cutoff, then cutoff() reads it, and null when there is none', async () => {
    const keys = testKeys('rev');
    const revocation = createRevocation({ client, keys });
    expect(await revocation.cutoff('u1')).toBeNull();
    const at = Date.now() + 5_000;
    await revocation.revokeAllBefore('u1', at);
    expect(await createRevocation({ client: other, keys }).cutoff('u1')).toBe(at);
  });

  it('when a check runs, then it costs one command: the token, session and cutoff questions in one MGET', async () => {
    const keys = testKeys('rev');
    const revocation = createRevocation({ client, keys });
    await revocation.revokeSession('u1', 's1', nowSeconds() + 60);
    const send = jest.spyOn(client, 'sendCommand');
    try {
      expect(await revocation.isRevoked({ userId: 'u1', jti: 'a', sessionId: 's1', issuedAtMs: Date.now() })).toBe(true);
      expect(send.mock.calls.map(([command]) => command.name)).toEqual(['mget']);
    } finally {
      send.mockRestore();
    }
  });

  describe('the marker', () => {
    const query = { userId: 'u1', sessionId: 's1', jti: 'j1', issuedAtMs: Date.now() };

    it('when an instance first looks and the marker names another primary (a failover user-service has not repaired yet), then it trusts no check until the marker is written for this primary', async () => {
      const keys = testKeys('rev');
      // What a promoted replica holds: the old primary's marker, and maybe not the last marks.
      await client.set(keys.revocationMarker(), 'f'.repeat(40), 'EX', 60);
      const fresh = createRevocation({ client: other, keys });
      expect(await fresh.checkMarker()).toBe(false);
      expect(fresh.trusted).toBe(false);
      await expect(fresh.isRevoked(query)).rejects.toBeInstanceOf(RedisUnavailableError);
      // user-service writes the marks back, then the marker for this primary.
      await fresh.marker.set(60);
      expect(await fresh.checkMarker()).toBe(true);
      expect(await fresh.isRevoked(query)).toBe(false);
    });

    it('when an instance first looks and there is no marker at all, then it trusts Redis (nothing says marks were ever kept there)', async () => {
      const fresh = createRevocation({ client: other, keys: testKeys('rev') });
      expect(await fresh.checkMarker()).toBe(false);
      expect(fresh.trusted).toBe(true);
      expect(await fresh.isRevoked(query)).toBe(false);
    });
  });

  describe('when Redis is down', () => {
    let dead: RedisClient;
    beforeAll(async () => {
      dead = deadRedis();
      // Down, not still connecting: a command sent before the refusal arrives waits for the next attempt.
      await new Promise((resolve) => dead.once('close', resolve));
    });
    afterAll(() => dead.disconnect());

    it('when the fail mode is closed (the default), then a check throws RedisUnavailableError within 100 ms and is counted', async () => {
      const registry = new Registry();
      const revocation = createRevocation({ client: dead, keys: testKeys('rev'), registry });
      for (let i = 0; i < 3; i++) {
        const { ms, outcome } = await timed(() => revocation.isRevoked({ userId: 'u1', jti: 'a', sessionId: 's1', issuedAtMs: Date.now() }));
        expect(outcome).toBeInstanceOf(RedisUnavailableError);
        expect(ms).toBeLessThan(100);
      }
      const metric = await registry.getSingleMetricAsString('revocation_redis_errors_total');
      expect(metric).toContain('revocation_redis_errors_total{fail_mode="closed"} 3');
    });

    it('when the fail mode is open, then a check answers not revoked within 100 ms, is counted and logged once', async () => {
      const registry = new Registry();
      const warn = jest.fn();
      const revocation = createRevocation({ client: dead, keys: testKeys('rev'), failMode: 'open', registry, logger: { warn } });
      for (let i = 0; i < 3; i++) {
        const { ms, outcome } = await timed(() => revocation.isRevoked({ userId: 'u1', jti: 'a', sessionId: 's1', issuedAtMs: Date.now() }));
        expect(outcome).toBe(false);
        expect(ms).toBeLessThan(100);
      }
      expect(await registry.getSingleMetricAsString('revocation_redis_errors_total')).toContain('{fail_mode="open"} 3');
      expect(warn).toHaveBeenCalledTimes(1);
    });

    it('when a revocation cannot be written or the cutoff read, then it throws whatever the fail mode, within 100 ms', async () => {
      const revocation = createRevocation({ client: dead, keys: testKeys('rev'), failMode: 'open' });
      const writes: (() => Promise<unknown>)[] = [
        () => revocation.revokeToken('u1', 'a', nowSeconds() + 60),
        () => revocation.revokeSession('u1', 's1', nowSeconds() + 60),
        () => revocation.revokeAllBefore('u1'),
        () => revocation.cutoff('u1'),
      ];
      for (const run of writes) {
        const { ms, outcome } = await timed(run);
        expect(outcome).toBeInstanceOf(RedisUnavailableError);
        expect(ms).toBeLessThan(100);
      }
    });
  });
});
