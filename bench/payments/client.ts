import { randomUUID } from 'node:crypto';

/** What a client sends, over fetch, exactly as an outside caller would. */

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export async function call(url: string, init: { body?: object; token?: string; key?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.body) headers['content-type'] = 'application/json';
  if (init.token) headers['authorization'] = `Bearer ${init.token}`;
  if (init.key) headers['idempotency-key'] = init.key;
  const res = await fetch(url, { method: init.body ? 'POST' : 'GET', headers, body: init.body ? JSON.stringify(init.body) : undefined });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function expectStatus(what: string, answer: Answer, status: number): Record<string, unknown> {
  if (answer.status !== status) throw new Error(`${what} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Registers a user and signs them in; the access token. */
export async function signUp(usersUrl: string, run: string, i: number): Promise<string> {
  const credentials = { email: `bench-${run}-${i}@example.com`, password: 'correct horse battery staple' };
  expectStatus('register', await call(`${usersUrl}/v1/auth/register`, { body: { ...credentials, name: `Bench ${i}` } }), 201);
  return expectStatus('login', await call(`${usersUrl}/v1/auth/login`, { body: credentials }), 200)['accessToken'] as string;
}

export const ORDER = Object.freeze({ currency: 'EUR', items: [{ sku: 'BENCH-1', name: 'Bench item', unitPrice: 1_999, quantity: 2 }] });

export interface PlacedOrder {
  id: string;
  totalAmount: number;
}

export async function createOrder(ordersUrl: string, token: string): Promise<PlacedOrder> {
  const body = expectStatus('POST /v1/orders', await call(`${ordersUrl}/v1/orders`, { token, body: ORDER }), 201);
  return { id: body['id'] as string, totalAmount: body['totalAmount'] as number };
}

/** POST /v1/payments with a key of its own; a 201 is a success only if the payment says SUCCEEDED. */
export async function pay(paymentsUrl: string, token: string, orderId: string): Promise<{ ok: boolean; why: string }> {
  const body = { orderId, paymentMethod: { type: 'card', token: 'tok_visa' } };
  const answer = await call(`${paymentsUrl}/v1/payments`, { token, key: randomUUID(), body });
  if (answer.status === 201 && answer.body['status'] === 'SUCCEEDED') return { ok: true, why: '' };
  return { ok: false, why: `${answer.status} ${String(answer.body['code'] ?? answer.body['status'])}` };
}

/** The provider alone: one charge straight at the sandbox, as payment-service sends it. */
export async function chargeAtSandbox(sandboxUrl: string): Promise<{ ok: boolean; why: string }> {
  const body = { amount: 3_998, currency: 'EUR', token: 'tok_visa', orderId: randomUUID() };
  const answer = await call(`${sandboxUrl}/v1/charges`, { key: randomUUID(), body });
  return answer.status === 201 && answer.body['status'] === 'succeeded' ? { ok: true, why: '' } : { ok: false, why: `${answer.status}` };
}

export async function orderStatus(ordersUrl: string, token: string, id: string): Promise<string> {
  return expectStatus('GET /v1/orders/:id', await call(`${ordersUrl}/v1/orders/${id}`, { token }), 200)['status'] as string;
}

export interface Charge {
  amount: number;
  status: string;
  refundedAmount: number;
}

export async function chargesOf(sandboxUrl: string, orderId: string): Promise<Charge[]> {
  return expectStatus('sandbox GET /v1/charges', await call(`${sandboxUrl}/v1/charges?orderId=${orderId}`), 200)['data'] as Charge[];
}
