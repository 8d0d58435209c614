import { TEST_AUDIENCE, TEST_ISSUER } from '@platform/auth/testing';
import type { KeySource } from '@platform/auth';
import type { FailMode, RateLimitPolicy } from '@platform/redis';
import { createServer, redis, serviceDefaults, type App } from '@platform/service-kit';
import { testKeyPrefix } from '@platform/testing';
import type { DestinationStream } from 'pino';
import { pipeline } from '../src/pipeline';

export interface PipelineAppOptions {
  keys: KeySource;
  /** The prefix every service shares (revocation marks, rate-limit budgets); one per test file. */
  sharedKeyPrefix: string;
  failMode?: FailMode;
  /** Another Redis than the test one, e.g. a port where nothing listens. */
  redisUrl?: string;
  /** How often the revocation marker is looked at; the pipeline's default otherwise. */
  markerCheckMs?: number;
  /** Defaults: `default` 100 per minute failing open, `login` 5 per 30 s failing closed. */
  policies?: Record<string, RateLimitPolicy>;
  /** The service's name, which names its own Redis prefix too: two services share only the shared prefix. */
  service?: string;
  /** More routes of the test's own. */
  routes?: (app: App) => void;
  logStream?: DestinationStream;
  /** CORS_ALLOWED_ORIGINS; unset, no CORS. */
  corsAllowedOrigins?: string;
  /** PEER_SECRET's secrets; unset, nothing is vouched for. */
  peerSecrets?: readonly string[];
}

/**
 * A service as the real ones are wired (the kit's defaults, Redis, the request pipeline), with
 * routes of each kind: token required, public (`auth: false`), another policy, unlimited, and
 * outside the prefix.
 */
export async function pipelineApp(opts: PipelineAppOptions): Promise<App> {
  const service = opts.service ?? 'pipeline-test';
  const app = createServer({ service, logLevel: opts.logStream ? 'info' : 'silent', requestTimeoutMs: 10_000, logStream: opts.logStream });
  try {
    await build(app, service, opts);
  } catch (err) {
    // A test expecting the build to fail never gets the app to close: its Redis client would keep the worker alive.
    await app.close();
    throw err;
  }
  return app;
}

async function build(app: App, service: string, opts: PipelineAppOptions): Promise<void> {
  await app.register(serviceDefaults, { service, description: service, defaultMetrics: false, corsAllowedOrigins: opts.corsAllowedOrigins });
  await app.register(redis, {
    url: opts.redisUrl ?? (process.env['REDIS_URL'] as string),
    keyPrefix: testKeyPrefix(service),
    commandTimeoutMs: 200,
    startupWaitMs: opts.redisUrl ? 50 : 2_000,
  });
  await app.register(pipeline, {
    keys: opts.keys,
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    sharedKeyPrefix: opts.sharedKeyPrefix,
    failMode: opts.failMode ?? 'closed',
    markerCheckMs: opts.markerCheckMs,
    peerSecrets: opts.peerSecrets,
    policies: opts.policies ?? {
      default: { limit: 100, windowSeconds: 60, failMode: 'open' },
      login: { limit: 5, windowSeconds: 30, failMode: 'closed' },
    },
  });
  app.get('/v1/echo', async (request) => ({ auth: request.auth ?? null }));
  app.get('/v1/open', { config: { auth: false } }, async (request) => ({ auth: request.auth ?? null }));
  app.post('/v1/auth/login', { config: { auth: false, rateLimit: 'login' } }, async () => ({ ok: true }));
  app.get('/v1/unlimited', { config: { rateLimit: false } }, async (request) => ({ auth: request.auth ?? null }));
  app.get('/internal/echo', async (request) => ({ auth: request.auth ?? null }));
  app.get('/internal/opt-in', { config: { rateLimit: 'login' } }, async () => ({ ok: true }));
  opts.routes?.(app);
  await app.ready();
}
