import type { KeySource } from '@platform/auth';
import type { RateLimitPolicy } from '@platform/redis';
import { peerSecrets } from './peer';
import type { RequestPipelineOptions } from './pipeline';

/** What every service's configuration has for tokens and limits (authEnv, revocationEnv, rateLimitEnv, peerSecretEnv). */
export interface PipelineConfig {
  JWT_ISSUER: string;
  JWT_AUDIENCE: string;
  AUTH_REDIS_KEY_PREFIX: string;
  REVOCATION_FAIL_MODE: 'open' | 'closed';
  RATE_LIMIT_MAX: number;
  RATE_LIMIT_WINDOW_SECONDS: number;
  PEER_SECRET?: string;
}

/**
 * The pipeline's options from a service's configuration. The general `default` policy fails
 * open (CONTRACT.md, "When parts fail"); a service adds its own policies, e.g. user-service's
 * `login`. Every service must be configured with the same limits: they share the budgets.
 */
export function pipelineOptions(config: PipelineConfig, keys: KeySource, policies: Readonly<Record<string, RateLimitPolicy>> = {}): RequestPipelineOptions {
  return {
    keys,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    sharedKeyPrefix: config.AUTH_REDIS_KEY_PREFIX,
    failMode: config.REVOCATION_FAIL_MODE,
    policies: { default: { limit: config.RATE_LIMIT_MAX, windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS, failMode: 'open' }, ...policies },
    peerSecrets: peerSecrets(config.PEER_SECRET),
  };
}
