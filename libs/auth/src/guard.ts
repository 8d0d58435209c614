import { createRateLimiter, keySpace, rateLimit, type RateLimitPolicy } from '@platform/redis';
import type { FastifyInstance } from 'fastify';
import { authentication } from './auth-plugin';
import type { KeySource } from './key-source';

/** What every service's configuration has for tokens and limits (authEnv, revocationEnv, rateLimitEnv). */
export interface GuardConfig {
  JWT_ISSUER: string;
  JWT_AUDIENCE: string;
  AUTH_REDIS_KEY_PREFIX: string;
  REVOCATION_FAIL_MODE: 'open' | 'closed';
  RATE_LIMIT_MAX: number;
  RATE_LIMIT_WINDOW_SECONDS: number;
}

/**
 * The request guard every service puts in front of its `/v1` routes: token verification
 * (with revocation) and then the rate limit, in that order so the limit keys by user, and
 * in one Redis round trip. The general `default` policy fails open (CONTRACT.md, "When
 * parts fail"); a service adds its own policies, e.g. user-service's `login`.
 */
export async function registerGuard(
  app: FastifyInstance,
  config: GuardConfig,
  keys: KeySource,
  policies: Readonly<Record<string, RateLimitPolicy>> = {},
): Promise<void> {
  await app.register(authentication, {
    keys,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    keyPrefix: config.AUTH_REDIS_KEY_PREFIX,
    failMode: config.REVOCATION_FAIL_MODE,
  });
  const limiter = createRateLimiter({
    client: app.redis,
    keys: keySpace(app.redisKeyPrefix),
    policies: { default: { limit: config.RATE_LIMIT_MAX, windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS, failMode: 'open' }, ...policies },
    registry: app.metrics,
    logger: app.log,
  });
  await app.register(rateLimit, { limiter });
}
