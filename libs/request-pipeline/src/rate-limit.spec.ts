import { randomUUID } from 'node:crypto';
import { staticKeySource } from '@platform/auth';
import { generateSigningKey, signAccessToken } from '@platform/auth/testing';
import type { RateLimitPolicy } from '@platform/redis';
import type { App } from '@platform/service-kit';
import { testKeyPrefix } from '@platform/testing';
import { pipelineApp, type PipelineAppOptions } from '../test/pipeline-app';

const key = generateSigningKey('k-limits');
const keys = staticKeySource(() => new Map([[key.kid, key.publicKey]]));
const apps: App[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

const policies = (defaultLimit = 2): Record<string, RateLimitPolicy> => ({
  default: { limit: defaultLimit, windowSeconds: 60, failMode: 'open' },
  login: { limit: 1, windowSeconds: 30, failMode: 'closed' },
});

/** A service on budgets of this test's own (a fresh shared prefix unless given). */
async function appWith(opts: Partial<PipelineAppOptions> = {}): Promise<App> {
  const app = await pipelineApp({ keys, sharedKeyPrefix: testKeyPrefix('limits'), policies: policies(), ...opts });
  apps.push(app);
  return app;
}

const tokenOf = (userId: string = randomUUID()) => signAccessToken(key, { claims: { sub: userId } });

function call(app: App, opts: { url?: string; method?: 'GET' | 'POST'; token?: string; from?: string } = {}) {
  const headers = opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` };
  return app.inject({ method: opts.method ?? 'GET', url: opts.url ?? '/v1/echo', headers, remoteAddress: opts.from ?? '127.0.0.1' });
}

describe('request pipeline: rate limits', () => {
  it('when a limited route answers 200, then it carries RateLimit-Policy and RateLimit fields', async () => {
    const app = await appWith();
    const res = await call(app, { token: tokenOf() });
    expect(res.statusCode).toBe(200);
    expect(res.headers['ratelimit-policy']).toBe('"default";q=2;w=60');
    expect(res.headers['ratelimit']).toBe('"default";r=1;t=30');
    expect(res.headers['retry-after']).toBeUndefined();
  });

  it('when the limit is spent, then the next request is 429 RATE_LIMITED problem+json with Retry-After and the fields', async () => {
    const app = await appWith();
    const token = tokenOf();
    for (let i = 0; i < 2; i++) expect((await call(app, { token })).statusCode).toBe(200);
    const res = await call(app, { token });
    expect(res.statusCode).toBe(429);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED', requestId: res.headers['x-request-id'] });
    expect(res.headers['retry-after']).toBe('30');
    expect(res.headers['ratelimit-policy']).toBe('"default";q=2;w=60');
    expect(res.headers['ratelimit']).toBe('"default";r=0;t=60');
  });

  it('when callers are signed in, then each user has a budget of their own wherever they connect from; others share one per address', async () => {
    const app = await appWith();
    const [alice, bob] = [tokenOf(), tokenOf()];
    expect((await call(app, { token: alice, from: '10.0.0.1' })).statusCode).toBe(200);
    expect((await call(app, { token: alice, from: '10.0.0.2' })).statusCode).toBe(200);
    expect((await call(app, { token: alice, from: '10.0.0.3' })).statusCode).toBe(429);
    // Same address as alice, another user: untouched by her budget.
    expect((await call(app, { token: bob, from: '10.0.0.1' })).statusCode).toBe(200);
    // Anonymous callers of a public route from alice's addresses: the address's own budget.
    expect((await call(app, { url: '/v1/open', from: '10.0.0.1' })).statusCode).toBe(200);
    expect((await call(app, { url: '/v1/open', from: '10.0.0.1' })).statusCode).toBe(200);
    expect((await call(app, { url: '/v1/open', from: '10.0.0.1' })).statusCode).toBe(429);
    expect((await call(app, { url: '/v1/open', from: '10.0.0.2' })).statusCode).toBe(200);
  });

  it('when a user calls two services, then both count against one budget: it is the platform\'s, not each service\'s', async () => {
    const sharedKeyPrefix = testKeyPrefix('limits-shared');
    const orders = await appWith({ sharedKeyPrefix, service: 'orders-test' });
    const payments = await appWith({ sharedKeyPrefix, service: 'payments-test' });
    const token = tokenOf();
    expect((await call(orders, { token })).headers['ratelimit']).toBe('"default";r=1;t=30');
    expect((await call(payments, { token })).headers['ratelimit']).toBe('"default";r=0;t=60');
    expect((await call(orders, { token })).statusCode).toBe(429);
  });

  it.each([
    ['no token', undefined],
    ['a malformed token', 'junk'],
    ['a token signed by a stranger', signAccessToken(generateSigningKey('k-stranger'))],
    ['an expired token', signAccessToken(key, { claims: { exp: Math.floor(Date.now() / 1000) - 60 } })],
  ])('when a request brings %s, then its 401 carries the fields and counts against its address, until 429', async (_what, token) => {
    const app = await appWith();
    const first = await call(app, { token, from: '10.0.1.1' });
    expect(first.statusCode).toBe(401);
    expect(first.headers['ratelimit-policy']).toBe('"default";q=2;w=60');
    expect(first.headers['ratelimit']).toBe('"default";r=1;t=30');
    expect((await call(app, { token, from: '10.0.1.1' })).statusCode).toBe(401);
    const refused = await call(app, { token, from: '10.0.1.1' });
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('30');
    // The address's budget, not a user's: a signed-in user from the same address is untouched.
    expect((await call(app, { token: tokenOf(), from: '10.0.1.1' })).statusCode).toBe(200);
  });

  it("when a revoked token keeps coming, then it counts against its address, not its user's budget", async () => {
    const app = await appWith();
    const userId = randomUUID();
    const revoked = signAccessToken(key, { claims: { sub: userId, jti: 'j-revoked' } });
    await app.revocation.revokeToken(userId, 'j-revoked', Math.floor(Date.now() / 1000) + 900);
    const first = await call(app, { token: revoked, from: '10.0.2.1' });
    expect(first.statusCode).toBe(401);
    expect(first.json().detail).toMatch(/revoked/);
    expect(first.headers['ratelimit']).toBe('"default";r=1;t=30');
    expect((await call(app, { token: revoked, from: '10.0.2.1' })).statusCode).toBe(401);
    expect((await call(app, { token: revoked, from: '10.0.2.1' })).statusCode).toBe(429);
    // The user's own budget is whole.
    const own = await call(app, { token: tokenOf(userId), from: '10.0.2.2' });
    expect(own.statusCode).toBe(200);
    expect(own.headers['ratelimit']).toBe('"default";r=1;t=30');
  });

  it('when a route names a policy, then that policy applies, also outside the prefix', async () => {
    const app = await appWith();
    const login = await call(app, { method: 'POST', url: '/v1/auth/login' });
    expect(login.statusCode).toBe(200);
    expect(login.headers['ratelimit-policy']).toBe('"login";q=1;w=30');
    expect(login.headers['ratelimit']).toBe('"login";r=0;t=30');
    expect((await call(app, { method: 'POST', url: '/v1/auth/login' })).statusCode).toBe(429);
    // The default budget of the same caller is untouched.
    expect((await call(app, { url: '/v1/open' })).statusCode).toBe(200);
    expect((await call(app, { url: '/internal/opt-in' })).statusCode).toBe(429);
  });

  it('when a route opts out, or is health, metrics or docs, then it is never limited', async () => {
    const app = await appWith({ policies: policies(1) });
    for (const url of ['/v1/unlimited', '/health/live', '/health/ready', '/metrics']) {
      for (let i = 0; i < 3; i++) {
        const res = await call(app, { url, token: url === '/v1/unlimited' ? tokenOf() : undefined });
        expect(res.statusCode).toBe(200);
        expect(res.headers['ratelimit-policy']).toBeUndefined();
      }
    }
  });

  it('when a URL under the prefix matches no route, then it still counts', async () => {
    const app = await appWith({ policies: policies(1) });
    expect((await call(app, { url: '/v1/nope' })).statusCode).toBe(404);
    expect((await call(app, { url: '/v1/nope' })).statusCode).toBe(429);
  });

  it('when a route names a policy the pipeline lacks, then registering the route fails', async () => {
    const typo = (app: App) => app.get('/v1/typo', { config: { rateLimit: 'logni' } }, async () => ({}));
    await expect(appWith({ routes: typo })).rejects.toThrow(/logni/);
  });

  it('when Redis is down, then a fail-open policy lets requests through without figures and a fail-closed one answers 503, at once', async () => {
    const app = await appWith({ redisUrl: 'redis://127.0.0.1:1' });
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const open = await call(app, { url: '/v1/open' });
      expect(open.statusCode).toBe(200);
      expect(open.headers['ratelimit-policy']).toBe('"default";q=2;w=60');
      expect(open.headers['ratelimit']).toBeUndefined();
      const closed = await call(app, { method: 'POST', url: '/v1/auth/login' });
      expect(closed.statusCode).toBe(503);
      expect(closed.json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
      expect(performance.now() - started).toBeLessThan(200);
    }
  });
});
