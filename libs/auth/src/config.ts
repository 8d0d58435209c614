import { KeyPrefix } from '@platform/service-kit';
import { Type } from '@sinclair/typebox';

/**
 * The token verification settings, a fragment each service spreads into its ConfigSchema
 * beside service-kit's (`...authEnv()`), with `revocationEnv()` for REVOCATION_FAIL_MODE.
 *
 * AUTH_REDIS_KEY_PREFIX is not REDIS_KEY_PREFIX: revocation marks are written by
 * user-service and read by every service, so they live under one prefix that must be
 * the same everywhere, while each service keeps its own prefix for everything else.
 */
export const authEnv = () => ({
  JWT_ISSUER: Type.String({ minLength: 1, default: 'user-service' }),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'order-platform' }),
  AUTH_REDIS_KEY_PREFIX: KeyPrefix('auth:'),
});

/** Timings of the JWKS client: frozen defaults, not variables, until someone needs to turn them. */
export const JWKS_DEFAULTS = Object.freeze({
  /** At most one fetch per interval for kids the cache lacks, so a flood of made-up kids costs one request. */
  minRefetchIntervalMs: 5_000,
  /** Keys older than this are refreshed in the background on the next use; removed keys stop verifying then. */
  maxAgeMs: 5 * 60_000,
});
