import type { App } from '@platform/service-kit';
import { kitApp } from '@platform/testing';
import { closeAll, deadRedis, testKeys, testRedis } from '../test/redis';
import type { RedisClient } from './client';
import { rateLimit } from './rate-limit-plugin';
import { createRateLimiter, type RateLimiter, type RateLimitPolicy } from './rate-limiter';

let client: RedisClient;
const apps: App[] = [];

beforeAll(async () => {
  client = await testRedis();
});

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

const cleanups: (() => void)[] = [];
const afterThis = (cleanup: () => void) => cleanups.push(cleanup);

afterEach(() => {
  cleanups.splice(0).forEach((cleanup) => cleanup());
});

afterAll(async () => {
  await closeAll(client);
});

/**
 * An app with the kit's defaults, a stand-in for token verification (`x-user` becomes
 * `request.auth`, in an earlier hook as in the services) and a few routes.
 */
async function appWith(redis: RedisClient, policies: Record<string, RateLimitPolicy>): Promise<App> {
  const app = await kitApp('rate-limit-test');
  apps.push(app);
  app.addHook('onRequest', async (request) => {
    const user = request.headers['x-user'];
    if (typeof user === 'string') request.auth = { userId: user, sessionId: 's', tokenId: 't', expiresAt: 0 };
  });
  const limiter = createRateLimiter({ client: redis, keys: testKeys('rlp'), policies, registry: app.metrics });
  await app.register(rateLimit, { limiter });
  app.get('/v1/things', async () => ({ ok: true }));
  app.post('/v1/auth/login', { config: { rateLimit: 'login' } }, async () => ({ ok: true }));
  app.get('/v1/unlimited', { config: { rateLimit: false } }, async () => ({ ok: true }));
  app.get('/internal/opt-in', { config: { rateLimit: 'login' } }, async () => ({ ok: true }));
  await app.ready();
  return app;
}

const defaults = { default: { limit: 2, windowSeconds: 60, failMode: 'open' }, login: { limit: 1, windowSeconds: 30, failMode: 'closed' } } as const;

describe('rate-limit plugin', () => {
  it('when a limited route answers 200, then it carries RateLimit-Policy and RateLimit fields', async () => {
    const app = await appWith(client, { ...defaults });
    const res = await app.inject({ method: 'GET', url: '/v1/things' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['ratelimit-policy']).toBe('"default";q=2;w=60');
    expect(res.headers['ratelimit']).toBe('"default";r=1;t=30');
    expect(res.headers['retry-after']).toBeUndefined();
  });

  it('when the limit is spent, then the next request is 429 RATE_LIMITED problem+json with Retry-After and the fields', async () => {
    const app = await appWith(client, { ...defaults });
    for (let i = 0; i < 2; i++) expect((await app.inject({ method: 'GET', url: '/v1/things' })).statusCode).toBe(200);
    const res = await app.inject({ method: 'GET', url: '/v1/things' });
    expect(res.statusCode).toBe(429);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED', requestId: res.headers['x-request-id'] });
    expect(res.headers['retry-after']).toBe('30');
    expect(res.headers['ratelimit-policy']).toBe('"default";q=2;w=60');
    expect(res.headers['ratelimit']).toBe('"default";r=0;t=60');
  });

  it('when callers are signed in, then each user has a quota of their own wherever they connect from; others share one per IP', async () => {
    const app = await appWith(client, { ...defaults });
    const get = (headers: Record<string, string>, remoteAddress: string) => app.inject({ method: 'GET', url: '/v1/things', headers, remoteAddress });
    expect((await get({ 'x-user': 'alice' }, '10.0.0.1')).statusCode).toBe(200);
    expect((await get({ 'x-user': 'alice' }, '10.0.0.2')).statusCode).toBe(200);
    expect((await get({ 'x-user': 'alice' }, '10.0.0.3')).statusCode).toBe(429);
    // Same address as alice, another user: untouched by her quota.
    expect((await get({ 'x-user': 'bob' }, '10.0.0.1')).statusCode).toBe(200);
    // Anonymous callers from alice's addresses: their own per-IP quota.
    expect((await get({}, '10.0.0.1')).statusCode).toBe(200);
    expect((await get({}, '10.0.0.1')).statusCode).toBe(200);
    expect((await get({}, '10.0.0.1')).statusCode).toBe(429);
    expect((await get({}, '10.0.0.2')).statusCode).toBe(200);
  });

  it('when a route names a policy, then that policy applies, also outside /v1', async () => {
    const app = await appWith(client, { ...defaults });
    const login = await app.inject({ method: 'POST', url: '/v1/auth/login' });
    expect(login.statusCode).toBe(200);
    expect(login.headers['ratelimit-policy']).toBe('"login";q=1;w=30');
    expect(login.headers['ratelimit']).toBe('"login";r=0;t=30');
    expect((await app.inject({ method: 'POST', url: '/v1/auth/login' })).statusCode).toBe(429);
    // The default quota of the same caller is untouched.
    expect((await app.inject({ method: 'GET', url: '/v1/things' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/internal/opt-in' })).statusCode).toBe(429);
  });

  it('when a route opts out, or is health, metrics or docs, then it is never limited', async () => {
    const app = await appWith(client, { ...defaults, default: { limit: 1, windowSeconds: 60, failMode: 'open' } });
    for (const url of ['/v1/unlimited', '/health/live', '/health/ready', '/metrics']) {
      for (let i = 0; i < 3; i++) {
        const res = await app.inject({ method: 'GET', url });
        expect(res.statusCode).toBe(200);
        expect(res.headers['ratelimit-policy']).toBeUndefined();
      }
    }
  });

  it('when a URL under /v1 matches no route, then it still counts', async () => {
    const app = await appWith(client, { ...defaults, default: { limit: 1, windowSeconds: 60, failMode: 'open' } });
    expect((await app.inject({ method: 'GET', url: '/v1/nope' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/v1/nope' })).statusCode).toBe(429);
  });

  it('when a route names a policy the limiter lacks, then registering the route fails', async () => {
    const app = await kitApp('rate-limit-test');
    apps.push(app);
    await app.register(rateLimit, { limiter: createRateLimiter({ client, keys: testKeys('rlp'), policies: { ...defaults } }) });
    expect(() => app.get('/v1/typo', { config: { rateLimit: 'logni' } }, async () => ({}))).toThrow(/logni/);
  });

  it('when Redis is down, then a fail-open policy lets requests through and a fail-closed one answers 503, both within 100 ms', async () => {
    const dead = deadRedis();
    afterThis(() => dead.disconnect());
    const app = await appWith(dead, { ...defaults });
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const open = await app.inject({ method: 'GET', url: '/v1/things' });
      expect(open.statusCode).toBe(200);
      expect(open.headers['ratelimit-policy']).toBe('"default";q=2;w=60');
      expect(open.headers['ratelimit']).toBeUndefined();
      const closed = await app.inject({ method: 'POST', url: '/v1/auth/login' });
      expect(closed.statusCode).toBe(503);
      expect(closed.json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
      expect(performance.now() - started).toBeLessThan(200);
    }
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('rate_limit_redis_errors_total{policy="default",fail_mode="open",service="rate-limit-test"} 3');
    expect(metrics.body).toContain('rate_limit_redis_errors_total{policy="login",fail_mode="closed",service="rate-limit-test"} 3');
  });

  describe('when an earlier hook has checked the limit itself', () => {
    /** Counts the limiter's checks; the limiter itself is frozen, so it is wrapped, not spied on. */
    function counted(limiter: RateLimiter): { limiter: RateLimiter; calls: () => number } {
      let calls = 0;
      const check: RateLimiter['check'] = (policy, subject) => {
        calls++;
        return limiter.check(policy, subject);
      };
      return { limiter: { ...limiter, check }, calls: () => calls };
    }

    /** An earlier hook (as token verification does) settles the check when `x-preset` asks it to. */
    async function presetApp(): Promise<{ app: App; calls: () => number; policies: string[] }> {
      const app = await kitApp('rate-limit-test');
      apps.push(app);
      const policies: string[] = [];
      app.addHook('onRequest', async (request) => {
        const policy = app.rateLimitPolicyOf(request);
        policies.push(`${request.url} ${policy ?? '-'}`);
        const preset = request.headers['x-preset'];
        if (policy === undefined || typeof preset !== 'string') return;
        const allowed = preset === 'allow';
        request.rateLimitResult = { policy, result: { allowed, limit: 2, remaining: allowed ? 1 : 0, resetSeconds: 7, retryAfterSeconds: allowed ? 0 : 5 } };
      });
      const { limiter, calls } = counted(createRateLimiter({ client, keys: testKeys('rlp'), policies: { ...defaults } }));
      await app.register(rateLimit, { limiter });
      app.get('/v1/things', async () => ({ ok: true }));
      app.get('/v1/unlimited', { config: { rateLimit: false } }, async () => ({ ok: true }));
      app.post('/v1/auth/login', { config: { rateLimit: 'login' } }, async () => ({ ok: true }));
      await app.ready();
      expect(app.rateLimiter.policies).toHaveProperty('login');
      return { app, calls, policies };
    }

    it('when the result was set and allows, then the plugin makes no limiter call and still sends the fields', async () => {
      const { app, calls } = await presetApp();
      const res = await app.inject({ method: 'GET', url: '/v1/things', headers: { 'x-preset': 'allow' } });
      expect(res.statusCode).toBe(200);
      expect(calls()).toBe(0);
      expect(res.headers['ratelimit-policy']).toBe('"default";q=2;w=60');
      expect(res.headers['ratelimit']).toBe('"default";r=1;t=7');
    });

    it('when the result was set and refuses, then the plugin answers 429 with Retry-After, without a limiter call', async () => {
      const { app, calls } = await presetApp();
      const res = await app.inject({ method: 'GET', url: '/v1/things', headers: { 'x-preset': 'deny' } });
      expect(res.statusCode).toBe(429);
      expect(calls()).toBe(0);
      expect(res.json()).toMatchObject({ code: 'RATE_LIMITED' });
      expect(res.headers['retry-after']).toBe('5');
      expect(res.headers['ratelimit']).toBe('"default";r=0;t=7');
    });

    it('when no result was set, then the plugin checks as usual; rateLimitPolicyOf names each route policy', async () => {
      const { app, calls, policies } = await presetApp();
      expect((await app.inject({ method: 'GET', url: '/v1/things' })).headers['ratelimit']).toBe('"default";r=1;t=30');
      await app.inject({ method: 'POST', url: '/v1/auth/login' });
      await app.inject({ method: 'GET', url: '/v1/unlimited' });
      await app.inject({ method: 'GET', url: '/v1/nope' });
      await app.inject({ method: 'GET', url: '/health/live' });
      expect(calls()).toBe(3);
      expect(policies).toEqual(['/v1/things default', '/v1/auth/login login', '/v1/unlimited -', '/v1/nope default', '/health/live -']);
    });
  });
});
