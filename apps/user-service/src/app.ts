import fastifyJwt from '@fastify/jwt';
import { markWriters, mysql, mysqlOptions, readRouter, writeMarkTtlMs } from '@platform/db';
import { createWriteMarks, keySpace } from '@platform/redis';
import { pipeline, pipelineOptions } from '@platform/request-pipeline';
import { redis, redisOptions, serviceDefaults, type AppOptions } from '@platform/service-kit';
import type { FastifyInstance } from 'fastify';
import { accountService } from './accounts/account-service';
import { warmUpPasswords } from './accounts/passwords';
import { usersRepository } from './accounts/users-repository';
import type { Config } from './config';
import { ConfigSchema } from './config';
import { authRoutes } from './routes/auth';
import { jwksRoute } from './routes/jwks';
import { userRoutes } from './routes/users';
import { keepRevocations } from './tokens/revocation-keeper';
import { sessionsRepository } from './tokens/sessions-repository';
import { signingKeys } from './tokens/signing-keys';
import { tokenIssuer } from './tokens/token-issuer';

export const SERVICE = 'user-service';

/** user-service: Accounts, sign-in, and the tokens every service trusts. */
export default async function userService(app: FastifyInstance, { config, defaultMetrics }: AppOptions<Config>) {
  await app.register(serviceDefaults, {
    service: SERVICE,
    description: 'Accounts, sign-in, and the tokens every service trusts.',
    defaultMetrics,
    corsAllowedOrigins: config.CORS_ALLOWED_ORIGINS,
    defaultPort: ConfigSchema.properties.PORT.default,
    tags: [
      { name: 'auth', description: 'Sign up, sign in, token rotation and sign-out; the token signing keys.' },
      { name: 'users', description: 'The signed-in user’s own account.' },
    ],
  });
  await app.register(mysql, mysqlOptions(config));
  await app.register(redis, redisOptions(config, SERVICE));
  void warmUpPasswords();

  // Tokens: signed here with the newest key, verified here (no HTTP to itself) as everywhere else.
  await app.register(signingKeys, { configured: config.JWT_SIGNING_KEYS });
  // @fastify/jwt only signs here (with the ring's signing key, passed per call); verification is
  // libs/auth's, as in every service, so the public-key callback is never used.
  await app.register(fastifyJwt, {
    secret: { private: async () => (await app.signingKeys()).signing.privatePem, public: async () => '' },
    sign: { algorithm: 'EdDSA', header: { alg: 'EdDSA', typ: 'at+jwt' } },
  });
  const ownKeys = { key: async (kid: string) => (await app.signingKeys()).verifying.get(kid) };
  await app.register(
    pipeline,
    pipelineOptions(config, ownKeys, { login: { limit: config.LOGIN_RATE_LIMIT_MAX, windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS, failMode: 'closed' } }),
  );

  const sessions = sessionsRepository(() => app.db);
  keepRevocations(app, sessions, { accessTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS });
  const tokens = tokenIssuer(app, sessions, {
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    accessTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    refreshTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
  });
  // With replicas: the profile's cache misses may read one; marks keep read-your-writes (ADR 0020).
  const marks = app.replicas
    ? createWriteMarks({ client: app.redis, keys: keySpace(config.AUTH_REDIS_KEY_PREFIX), ttlMs: writeMarkTtlMs(config.DB_REPLICA_MAX_LAG_MS) })
    : undefined;
  markWriters(app, marks);
  const accounts = accountService(app, usersRepository(() => app.db), tokens, {
    reads: readRouter(() => app.db, app.replicas, marks, app.metrics),
    marks,
    loginFailureMax: config.LOGIN_FAILURE_MAX,
    loginFailureWindowSeconds: config.LOGIN_FAILURE_WINDOW_SECONDS,
    cacheTtlSeconds: 300,
  });
  await app.register(jwksRoute);
  await app.register(authRoutes, { accounts, tokens });
  await app.register(userRoutes, { accounts });
}

export const definition = { service: SERVICE, configSchema: ConfigSchema, plugin: userService };
