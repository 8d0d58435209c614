import { generateSigningKey, signAccessToken, startJwksServer, type TestJwksServer } from '@platform/auth/testing';
import { createDataSource, createOneTripTransactions, initializeDataSource, migrateUrl, type OneTripTransactions } from '@platform/db';
import { migrations } from '@platform/migrations/payment-service';
import type { App } from '@platform/service-kit';
import { bearer, buildApp, createTestDatabase, startServiceProcess, testKeyPrefix, type ServiceProcess, type TestDatabase } from '@platform/testing';
import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { definition } from '../src/app';
import type { OrderView } from '@platform/contracts';

/** High enough that a test file's own traffic never trips the general limit. */
export const ROOMY_LIMITS = { RATE_LIMIT_MAX: '100000' };

/** The real payment-service on a schema and a Redis key prefix of this test file's own. */
export async function build(env: Record<string, string> = {}): Promise<App> {
  const db = await createTestDatabase('payment');
  await migrateUrl(db.url, migrations);
  return buildApp(definition, { DATABASE_URL: db.url, REDIS_KEY_PREFIX: testKeyPrefix('payment'), ...env }, db.drop);
}

export interface World {
  /** payment-service, in process. */
  app: App;
  /** Its configuration, to build more instances of it on the same schema and prefixes. */
  env: Record<string, string>;
  /** A real order-service process on a schema of its own, trusting the same test keys. */
  orders: ServiceProcess;
  /** A real gateway-sandbox process. */
  sandbox: ServiceProcess;
  jwks: TestJwksServer;
  tokenFor(userId?: string): { userId: string; token: string };
  /** payment-service's schema, over a connection of the test's own. */
  db: DataSource;
  /** One-trip transactions on that schema, the test's own (as `app.oneTrip` sends them). */
  oneTrip: OneTripTransactions;
  eventsPrefix: string;
  close(): Promise<void>;
}

/**
 * payment-service with everything it talks to real: order-service and the sandbox run as
 * processes, user-service is stood in for by a JWKS server whose key signs the tokens,
 * and events go through Redis Streams under a prefix of the test's own.
 */
export async function buildWorld(opts: { env?: Record<string, string>; sandboxEnv?: Record<string, string> } = {}): Promise<World> {
  const key = generateSigningKey();
  const jwks = await startJwksServer([key]);
  const userServiceUrl = new URL(jwks.url).origin;
  const shared = {
    USER_SERVICE_URL: userServiceUrl,
    AUTH_REDIS_KEY_PREFIX: testKeyPrefix('auth'),
    EVENTS_REDIS_KEY_PREFIX: testKeyPrefix('events'),
    // As a deployment sets it: payment-service vouches for its reads of orders.
    PEER_SECRET: randomBytes(32).toString('base64url'),
    ...ROOMY_LIMITS,
  };
  const orderDb = await createTestDatabase('order');
  const paymentDb: TestDatabase = await createTestDatabase('payment');
  await migrateUrl(paymentDb.url, migrations);
  const [orders, sandbox] = await Promise.all([
    startServiceProcess({
      service: 'order-service',
      migrate: true,
      env: { ...shared, DATABASE_URL: orderDb.url, REDIS_KEY_PREFIX: testKeyPrefix('order') },
    }),
    startServiceProcess({ service: 'gateway-sandbox', env: { ...opts.sandboxEnv } }),
  ]);
  const env = {
    ...shared,
    DATABASE_URL: paymentDb.url,
    REDIS_KEY_PREFIX: testKeyPrefix('payment'),
    ORDER_SERVICE_URL: orders.url,
    PAYMENT_GATEWAY_URL: sandbox.url,
    ...opts.env,
  };
  const app = await buildApp(definition, env);
  const db = await initializeDataSource(createDataSource({ url: paymentDb.url, poolSize: 4, connectTimeoutMs: 5_000 }), {});
  const oneTrip = createOneTripTransactions({ url: paymentDb.url, poolSize: 2, connectTimeoutMs: 5_000 });
  const tokenFor = (userId: string = randomUUID()) => ({ userId, token: signAccessToken(key, { claims: { sub: userId } }) });
  const close = async () => {
    await app.close();
    await Promise.all([orders.stop(), sandbox.stop()]);
    await db.destroy();
    await oneTrip.close();
    await jwks.close();
    await Promise.all([orderDb.drop(), paymentDb.drop()]);
  };
  return { app, env, orders, sandbox, jwks, tokenFor, db, oneTrip, eventsPrefix: shared.EVENTS_REDIS_KEY_PREFIX, close };
}


export const ITEM = Object.freeze({ sku: 'TEA-250', name: 'Green tea, 250 g', unitPrice: 1299, quantity: 2 });

/** An order as order-service answers it (the shared wire shape). */
export type OrderJson = OrderView;

export interface PaymentJson {
  id: string;
  orderId: string;
  userId: string;
  amount: number;
  currency: string;
  status: string;
  failureCode: string | null;
  refundedAmount: number;
  createdAt: string;
  updatedAt: string;
}

export interface ChargeJson {
  id: string;
  orderId: string;
  amount: number;
  currency: string;
  status: 'succeeded' | 'failed';
  refundedAmount: number;
  refunds: { id: string; amount: number }[];
}

/** Places an order at the real order-service as `token`'s user. */
export async function placeOrder(w: World, token: string, items: object[] = [ITEM]): Promise<OrderJson> {
  const res = await fetch(`${w.orders.url}/v1/orders`, {
    method: 'POST',
    headers: { ...bearer(token), 'content-type': 'application/json' },
    body: JSON.stringify({ currency: 'EUR', items }),
  });
  if (res.status !== 201) throw new Error(`order-service answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as OrderJson;
}

export async function orderOf(w: World, token: string, orderId: string): Promise<OrderJson> {
  const res = await fetch(`${w.orders.url}/v1/orders/${orderId}`, { headers: bearer(token) });
  if (res.status !== 200) throw new Error(`order-service answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as OrderJson;
}

export async function cancelOrder(w: World, token: string, orderId: string): Promise<number> {
  const res = await fetch(`${w.orders.url}/v1/orders/${orderId}/cancel`, { method: 'POST', headers: bearer(token) });
  await res.body?.cancel();
  return res.status;
}

/** What the sandbox's ledger holds for the order: the money that really moved. */
export async function chargesOf(w: World, orderId: string): Promise<ChargeJson[]> {
  const res = await fetch(`${w.sandbox.url}/v1/charges?orderId=${orderId}`);
  if (res.status !== 200) throw new Error(`sandbox answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { data: ChargeJson[] }).data;
}

/** `key: null` sends no Idempotency-Key. */
export function pay(app: App, token: string, body: object, key: string | null = randomUUID()) {
  return app.inject({
    method: 'POST',
    url: '/v1/payments',
    headers: { ...bearer(token), ...(key === null ? {} : { 'idempotency-key': key }) },
    payload: body,
  });
}

export const card = (token = 'tok_visa') => ({ type: 'card', token });

export function refund(app: App, token: string, paymentId: string, body: object = {}, key: string | null = randomUUID()) {
  return app.inject({
    method: 'POST',
    url: `/v1/payments/${paymentId}/refunds`,
    headers: { ...bearer(token), ...(key === null ? {} : { 'idempotency-key': key }) },
    payload: body,
  });
}
export { bearer } from '@platform/testing';
