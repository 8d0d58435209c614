import { randomUUID } from 'node:crypto';
import { generateSigningKey, signAccessToken } from '@platform/auth/testing';
import type { App } from '@platform/service-kit';
import { testKeyPrefix } from '@platform/testing';
import type { LightMyRequestResponse } from 'fastify';
import { pipelineApp } from '../test/pipeline-app';

/**
 * CORS (the kit's) in front of the pipeline: a preflight is answered before the token, the
 * rate-limit step and the idempotency key are looked for, and the pipeline's refusals carry
 * the CORS fields, so a page can read them.
 */
const key = generateSigningKey('k-cors');
const SHOP = 'https://shop.example.com';
const apps: App[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function appWith(limit: number): Promise<App> {
  const app = await pipelineApp({
    keys: { key: async (kid) => (kid === key.kid ? key.publicKey : undefined) },
    // Its own budgets per test: the limits below count from zero.
    sharedKeyPrefix: testKeyPrefix(`cors-${randomUUID().slice(0, 8)}`),
    corsAllowedOrigins: SHOP,
    policies: { default: { limit, windowSeconds: 60, failMode: 'closed' }, login: { limit, windowSeconds: 60, failMode: 'closed' } },
    routes: (a) => a.post('/v1/keyed', { config: { idempotency: { required: true } } }, async () => ({ ok: true })),
  });
  apps.push(app);
  return app;
}

const preflight = (app: App, url: string, method: string) =>
  app.inject({ method: 'OPTIONS', url, headers: { origin: SHOP, 'access-control-request-method': method, 'access-control-request-headers': 'authorization,idempotency-key' } });

const readable = (res: LightMyRequestResponse) => {
  expect(res.headers['access-control-allow-origin']).toBe(SHOP);
  expect(String(res.headers['access-control-expose-headers'])).toMatch(/RateLimit, RateLimit-Policy, Retry-After/);
};

describe('CORS before the request pipeline', () => {
  it('when preflights arrive, then each is 204 without a token, a key or a rate-limit step, and the budget is untouched', async () => {
    const app = await appWith(2);
    for (const [url, method] of [['/v1/echo', 'GET'], ['/v1/keyed', 'POST'], ['/v1/auth/login', 'POST'], ['/v1/echo', 'GET'], ['/v1/keyed', 'POST']] as const) {
      const res = await preflight(app, url, method);
      expect([url, res.statusCode]).toEqual([url, 204]);
      expect(res.headers['ratelimit']).toBeUndefined();
      expect(res.headers['ratelimit-policy']).toBeUndefined();
    }
    const token = signAccessToken(key, { claims: { sub: randomUUID(), sid: 's', jti: randomUUID() } });
    const first = await app.inject({ method: 'GET', url: '/v1/echo', headers: { origin: SHOP, authorization: `Bearer ${token}` } });
    expect(first.statusCode).toBe(200);
    expect(first.headers['ratelimit']).toMatch(/^"default";r=1;/);
    readable(first);
  });

  it('when the pipeline refuses (401, then 429), then the answers carry the CORS fields', async () => {
    const app = await appWith(1);
    const anonymous = () => app.inject({ method: 'GET', url: '/v1/echo', headers: { origin: SHOP } });
    const unauthorized = await anonymous();
    expect(unauthorized.statusCode).toBe(401);
    expect(unauthorized.headers['www-authenticate']).toBeDefined();
    readable(unauthorized);
    const limited = await anonymous();
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBeDefined();
    readable(limited);
  });
});
