import { createTestDatabase, eventually, startServiceProcess, testKeyPrefix, type ServiceProcess, type TestDatabase } from '@platform/testing';
import { randomUUID } from 'node:crypto';
import { ITEM, ROOMY_LIMITS, type ChargeJson, type OrderJson, type PaymentJson } from './helper';

/**
 * The whole platform as a client meets it: user-service, order-service, payment-service and
 * the sandbox provider, each a real process on a schema and key prefix of its own, wired by
 * URL and sharing the auth and events prefixes, driven over HTTP with fetch alone.
 */
const databases: TestDatabase[] = [];
const processes: ServiceProcess[] = [];
let users: ServiceProcess;
let orders: ServiceProcess;
let payments: ServiceProcess;
let sandbox: ServiceProcess;

/** The contract's bound on the events that move an order after a payment or a refund. */
const EVENT_BOUND_MS = 2_000;

async function schema(label: string): Promise<string> {
  const db = await createTestDatabase(label);
  databases.push(db);
  return db.url;
}

async function start(service: string, env: Record<string, string>, migrate = true): Promise<ServiceProcess> {
  const started = await startServiceProcess({ service, env, migrate });
  processes.push(started);
  return started;
}

beforeAll(async () => {
  const shared = { AUTH_REDIS_KEY_PREFIX: testKeyPrefix('auth'), EVENTS_REDIS_KEY_PREFIX: testKeyPrefix('events'), ...ROOMY_LIMITS, LOGIN_RATE_LIMIT_MAX: '1000' };
  const own = async (label: string) => ({ DATABASE_URL: await schema(label), REDIS_KEY_PREFIX: testKeyPrefix(label) });
  [users, sandbox] = await Promise.all([start('user-service', { ...shared, ...(await own('user')) }), start('gateway-sandbox', {}, false)]);
  orders = await start('order-service', { ...shared, ...(await own('order')), USER_SERVICE_URL: users.url });
  payments = await start('payment-service', {
    ...shared,
    ...(await own('payment')),
    USER_SERVICE_URL: users.url,
    ORDER_SERVICE_URL: orders.url,
    PAYMENT_GATEWAY_URL: sandbox.url,
  });
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await Promise.all(databases.map((db) => db.drop()));
}, 30_000);

interface Sent {
  status: number;
  body: Record<string, unknown>;
}

/** One request as a client sends it: JSON body, Bearer token and Idempotency-Key when given. */
async function send(base: string, path: string, init: { method?: string; body?: object; token?: string; key?: string } = {}): Promise<Sent> {
  const headers: Record<string, string> = {};
  if (init.body) headers['content-type'] = 'application/json';
  if (init.token) headers['authorization'] = `Bearer ${init.token}`;
  if (init.key) headers['idempotency-key'] = init.key;
  const res = await fetch(`${base}${path}`, { method: init.method ?? (init.body ? 'POST' : 'GET'), headers, body: init.body ? JSON.stringify(init.body) : undefined });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Registers a new user at user-service and signs them in; the access token. */
async function signUp(): Promise<string> {
  const credentials = { email: `e2e-${randomUUID()}@example.com`, password: 'correct horse battery' };
  const registered = await send(users.url, '/v1/auth/register', { body: { ...credentials, name: 'End To End' } });
  expect(registered.status).toBe(201);
  const login = await send(users.url, '/v1/auth/login', { body: credentials });
  expect(login.status).toBe(200);
  return login.body['accessToken'] as string;
}

async function placeOrder(token: string): Promise<OrderJson> {
  const created = await send(orders.url, '/v1/orders', { token, body: { currency: 'EUR', items: [ITEM] } });
  expect(created.status).toBe(201);
  return created.body as unknown as OrderJson;
}

const pay = (token: string, orderId: string, card: string) =>
  send(payments.url, '/v1/payments', { token, key: randomUUID(), body: { orderId, paymentMethod: { type: 'card', token: card } } });

const orderStatus = async (token: string, id: string) => (await send(orders.url, `/v1/orders/${id}`, { token })).body['status'];

/** True once the order shows `status`, polled as a client would, within the contract's bound. */
const orderBecomes = (token: string, id: string, status: string) => eventually(async () => (await orderStatus(token, id)) === status, EVENT_BOUND_MS, 50);

const chargesOf = async (orderId: string) => (await send(sandbox.url, `/v1/charges?orderId=${orderId}`)).body['data'] as ChargeJson[];

describe('payments end to end, four real processes', () => {
  it('when a signed-in client pays an order with tok_visa and then refunds it in full, then the order goes PAID and then REFUNDED within 2 s and the provider holds one succeeded charge refunded in full', async () => {
    const token = await signUp();
    const order = await placeOrder(token);
    expect(order.status).toBe('PENDING');

    const paid = await pay(token, order.id, 'tok_visa');
    expect(paid.status).toBe(201);
    const payment = paid.body as unknown as PaymentJson;
    expect(payment).toMatchObject({ orderId: order.id, status: 'SUCCEEDED', amount: order.totalAmount, currency: order.currency, refundedAmount: 0 });
    expect(await orderBecomes(token, order.id, 'PAID')).toBe(true);

    const refunded = await send(payments.url, `/v1/payments/${payment.id}/refunds`, { token, key: randomUUID(), body: {} });
    expect(refunded.status).toBe(201);
    expect(refunded.body).toMatchObject({ paymentId: payment.id, amount: order.totalAmount });
    expect(await orderBecomes(token, order.id, 'REFUNDED')).toBe(true);
    const after = await send(payments.url, `/v1/payments/${payment.id}`, { token });
    expect(after.body).toMatchObject({ status: 'REFUNDED', refundedAmount: order.totalAmount });

    const charges = await chargesOf(order.id);
    expect(charges).toHaveLength(1);
    expect(charges[0]).toMatchObject({ status: 'succeeded', amount: order.totalAmount, refundedAmount: order.totalAmount });
  });

  it('when the card is declined, then the answer is 402 CARD_DECLINED with the failed paymentId, the order stays PENDING, and paying it with tok_visa then succeeds', async () => {
    const token = await signUp();
    const order = await placeOrder(token);

    const declined = await pay(token, order.id, 'tok_chargeDeclined');
    expect(declined.status).toBe(402);
    expect(declined.body['code']).toBe('CARD_DECLINED');
    const paymentId = declined.body['paymentId'] as string;
    expect((await send(payments.url, `/v1/payments/${paymentId}`, { token })).body).toMatchObject({ status: 'FAILED', failureCode: 'CARD_DECLINED' });
    expect(await orderStatus(token, order.id)).toBe('PENDING');

    const paid = await pay(token, order.id, 'tok_visa');
    expect(paid.status).toBe(201);
    expect(paid.body['status']).toBe('SUCCEEDED');
    expect(paid.body['id']).not.toBe(paymentId);
    expect(await orderBecomes(token, order.id, 'PAID')).toBe(true);
    expect((await chargesOf(order.id)).filter((c) => c.status === 'succeeded')).toHaveLength(1);
  });

  it('when the order was cancelled at order-service, then paying it answers 409 ORDER_NOT_PAYABLE and the provider is never charged', async () => {
    const token = await signUp();
    const order = await placeOrder(token);
    expect((await send(orders.url, `/v1/orders/${order.id}/cancel`, { token, method: 'POST' })).status).toBe(200);

    const refused = await pay(token, order.id, 'tok_visa');
    expect(refused.status).toBe(409);
    expect(refused.body['code']).toBe('ORDER_NOT_PAYABLE');
    expect(await chargesOf(order.id)).toEqual([]);
    expect(await orderStatus(token, order.id)).toBe('CANCELLED');
  });
});
