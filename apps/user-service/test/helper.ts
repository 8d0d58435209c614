import { migrateUrl } from '@platform/db';
import { migrations } from '@platform/migrations/user-service';
import type { App } from '@platform/service-kit';
import { buildApp, createTestDatabase, testKeyPrefix, uniqueSuffix } from '@platform/testing';
import { definition } from '../src/app';

/** Limits high enough that a test file's own traffic never trips them; throttle tests lower them. */
export const ROOMY_LIMITS = { RATE_LIMIT_MAX: '100000', LOGIN_RATE_LIMIT_MAX: '100000', LOGIN_FAILURE_MAX: '1000' };

export interface Built {
  app: App;
  databaseUrl: string;
  redisKeyPrefix: string;
  authKeyPrefix: string;
}

/** The real user-service on a schema, a Redis key prefix and an auth key prefix of this test's own. */
export async function buildWithDb(env: Record<string, string> = {}): Promise<Built> {
  const db = await createTestDatabase('user');
  await migrateUrl(db.url, migrations);
  const redisKeyPrefix = testKeyPrefix('user');
  const authKeyPrefix = testKeyPrefix('auth');
  const app = await buildApp(
    definition,
    { DATABASE_URL: db.url, REDIS_KEY_PREFIX: redisKeyPrefix, AUTH_REDIS_KEY_PREFIX: authKeyPrefix, ...ROOMY_LIMITS, ...env },
    db.drop,
  );
  return { app, databaseUrl: db.url, redisKeyPrefix, authKeyPrefix };
}

export async function build(env: Record<string, string> = {}): Promise<App> {
  return (await buildWithDb(env)).app;
}

export const PASSWORD = 'correct horse battery';

export function newEmail(): string {
  return `user-${uniqueSuffix()}@example.com`;
}

export async function register(app: App, email = newEmail(), password = PASSWORD, name = 'Ada Lovelace') {
  const res = await app.inject({ method: 'POST', url: '/v1/auth/register', payload: { email, password, name } });
  if (res.statusCode !== 201) throw new Error(`register answered ${res.statusCode}: ${res.body}`);
  return { ...(res.json() as { id: string; email: string; name: string; createdAt: string }), password };
}

export interface Pair {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}

export async function login(app: App, email: string, password = PASSWORD): Promise<Pair> {
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password } });
  if (res.statusCode !== 200) throw new Error(`login answered ${res.statusCode}: ${res.body}`);
  return res.json();
}

export async function signUpAndIn(app: App) {
  const user = await register(app);
  return { user, pair: await login(app, user.email) };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export function me(app: App, token: string) {
  return app.inject({ method: 'GET', url: '/v1/users/me', headers: bearer(token) });
}
