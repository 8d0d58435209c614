import { authEnv } from '@platform/auth';
import { corsEnv, mysqlEnv, peerSecretEnv, rateLimitEnv, redisEnv, revocationEnv, serverEnv } from '@platform/service-kit';
import { Type, type Static } from '@sinclair/typebox';

export const ConfigSchema = Type.Object({
  ...serverEnv(3001),
  ...mysqlEnv('user_service'),
  ...redisEnv('user:'),
  ...rateLimitEnv(),
  ...peerSecretEnv(),
  ...corsEnv(),
  ...revocationEnv(),
  ...authEnv(),
  LOGIN_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 10 }),
  LOGIN_FAILURE_MAX: Type.Integer({ minimum: 1, default: 5 }),
  LOGIN_FAILURE_WINDOW_SECONDS: Type.Integer({ minimum: 1, default: 900 }),
  ACCESS_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 60, default: 900 }),
  REFRESH_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 60, default: 2_592_000 }),
  /** A JSON array of Ed25519 private JWKs; the first signs. Unset: a development key kept in MySQL. */
  JWT_SIGNING_KEYS: Type.Optional(Type.String({ minLength: 2 })),
});

export type Config = Static<typeof ConfigSchema>;
