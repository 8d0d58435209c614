import { generateSigningKey, signAccessToken, startJwksServer, type TestJwksServer, type TestSigningKey } from '@platform/auth/testing';
import { migrateUrl } from '@platform/db';
import { migrations } from '@platform/migrations/order-service';
import type { App } from '@platform/service-kit';
import { bearer, buildApp, createTestDatabase, testKeyPrefix } from '@platform/testing';
import { randomUUID } from 'node:crypto';
import { definition } from '../src/app';
import type { OrderView } from '@platform/contracts';

/** High enough that a test file's own traffic never trips the general limit. */
export const ROOMY_LIMITS = { RATE_LIMIT_MAX: '100000' };

/** The real order-service on a schema and a Redis key prefix of this test file's own. */
export async function build(env: Record<string, string> = {}, cleanup?: () => Promise<void>): Promise<App> {
  return (await buildWithDb(env, cleanup)).app;
}

async function buildWithDb(env: Record<string, string> = {}, cleanup?: () => Promise<void>): Promise<{ app: App; databaseUrl: string }> {
  const db = await createTestDatabase('order');
  await migrateUrl(db.url, migrations);
  const dropAll = async () => {
    await cleanup?.();
    await db.drop();
  };
  const app = await buildApp(definition, { DATABASE_URL: db.url, REDIS_KEY_PREFIX: testKeyPrefix('order'), ...env }, dropAll);
  return { app, databaseUrl: db.url };
}

export interface Built {
  app: App;
  /** Mints access tokens as user-service does, with a key this test's JWKS server publishes. */
  tokenFor(userId?: string): { userId: string; token: string };
  eventsPrefix: string;
  /** The app's schema, for a test's own connection (the app's pool is inside its plugin). */
  databaseUrl: string;
  jwks: TestJwksServer;
  key: TestSigningKey;
}

/**
 * order-service with user-service stood in for by a real JWKS server and test-signed
 * tokens, and with auth and event key prefixes of its own.
 */
export async function buildSignedIn(env: Record<string, string> = {}): Promise<Built> {
  const key = generateSigningKey();
  const jwks = await startJwksServer([key]);
  const eventsPrefix = testKeyPrefix('events');
  const { app, databaseUrl } = await buildWithDb({
    USER_SERVICE_URL: new URL(jwks.url).origin,
    AUTH_REDIS_KEY_PREFIX: testKeyPrefix('auth'),
    EVENTS_REDIS_KEY_PREFIX: eventsPrefix,
    ...ROOMY_LIMITS,
    ...env,
  }, () => jwks.close());
  const tokenFor = (userId: string = randomUUID()) => ({ userId, token: signAccessToken(key, { claims: { sub: userId } }) });
  return { app, tokenFor, eventsPrefix, databaseUrl, jwks, key };
}


export const ITEM = Object.freeze({ sku: 'TEA-250', name: 'Green tea, 250 g', unitPrice: 1299, quantity: 2 });

/** An order as order-service answers it (the shared wire shape). */
export type OrderJson = OrderView;

export async function createOrder(app: App, token: string, body: object = { currency: 'EUR', items: [ITEM] }): Promise<OrderJson> {
  const res = await app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(token), payload: body });
  if (res.statusCode !== 201) throw new Error(`create answered ${res.statusCode}: ${res.body}`);
  return res.json();
}
export { bearer } from '@platform/testing';
