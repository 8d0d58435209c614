import { createRateLimiter, keySpace, rateLimit, redis } from '@platform/redis';
import { createServer, serviceDefaults, type App } from '@platform/service-kit';
import { testKeyPrefix } from '@platform/testing';
import type { DestinationStream } from 'pino';
import { authentication } from '../src/auth-plugin';
import type { KeySource } from '../src/key-source';
import { TEST_AUDIENCE, TEST_ISSUER } from './tokens';

export interface AuthAppOptions {
  keys: KeySource;
  failMode?: 'open' | 'closed';
  redisUrl?: string;
  /** The shared revocation prefix; one per test file, so files do not see each other's marks. */
  authKeyPrefix: string;
  /** How often the revocation marker is looked at; the plugin's default otherwise. */
  markerCheckMs?: number;
  /** Requests per minute of the default policy; 0: no rate-limit plugin at all. */
  limit?: number;
  logStream?: DestinationStream;
}

/**
 * A service as the real ones are wired: the kit's defaults, Redis, authentication, then
 * the rate-limit plugin (its hook runs second), and a few routes.
 */
export async function authApp(opts: AuthAppOptions): Promise<App> {
  const app = createServer({ service: 'auth-test', logLevel: opts.logStream ? 'info' : 'silent', requestTimeoutMs: 10_000, logStream: opts.logStream });
  await app.register(serviceDefaults, { service: 'auth-test', title: 'auth-test', description: 'auth-test', version: '0', defaultMetrics: false });
  await app.register(redis, {
    url: opts.redisUrl ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    keyPrefix: testKeyPrefix('auth-app'),
    commandTimeoutMs: 200,
    startupWaitMs: opts.redisUrl ? 50 : 2_000,
  });
  await app.register(authentication, {
    keys: opts.keys,
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    keyPrefix: opts.authKeyPrefix,
    failMode: opts.failMode ?? 'closed',
    markerCheckMs: opts.markerCheckMs,
  });
  const limit = opts.limit ?? 100;
  if (limit > 0) {
    const policies = { default: { limit, windowSeconds: 60, failMode: 'open' as const } };
    await app.register(rateLimit, { limiter: createRateLimiter({ client: app.redis, keys: keySpace(app.redisKeyPrefix), policies, registry: app.metrics }) });
  }
  app.get('/v1/echo', async (request) => ({ auth: request.auth ?? null }));
  app.get('/v1/open', { config: { auth: false } }, async (request) => ({ auth: request.auth ?? null }));
  app.get('/internal/echo', async (request) => ({ auth: request.auth ?? null }));
  await app.ready();
  return app;
}
