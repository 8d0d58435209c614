import { randomUUID } from 'node:crypto';
import { eventually, type Client } from '../src/client';
import type { ServiceName } from '../src/platform';
import type { Platform } from '../src/platform';
import { badTokens } from '../src/tokens';
import { report, startChaosPlatform, stopChaosPlatform } from './support';

let platform: Platform;
let client: Client;

beforeAll(async () => {
  ({ platform, client } = await startChaosPlatform({ instances: 2 }));
}, 120_000);

afterAll(() => stopChaosPlatform(platform));

interface Route {
  service: ServiceName;
  method: string;
  path: string;
}

/** Every operation of each service's OpenAPI document that declares bearer security. */
async function bearerRoutes(): Promise<Route[]> {
  const routes: Route[] = [];
  for (const service of ['user', 'order', 'payment'] as const) {
    const doc = (await client.request(service, 'GET', '/docs/json')).body as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        if (op.security && op.security.length > 0) routes.push({ service, method: method.toUpperCase(), path });
      }
    }
  }
  return routes;
}

const withBody = (method: string) => (method === 'POST' || method === 'PATCH' || method === 'PUT' ? { body: {} } : {});

it('when forged, expired, alg none and revoked tokens call every bearer route of every service, then each answer is 401 on every instance', async () => {
  const before = client.sent;
  const routes = await bearerRoutes();
  // Every route of the contract's tables that needs a token: logout and logout-all, users/me (GET,
  // PATCH) and its password, and the four of orders and of payments.
  expect(routes.length).toBeGreaterThanOrEqual(13);
  const account = await client.signUp();
  const tokens: Record<string, string | undefined> = await badTokens(client.topology, account.accessToken);
  const revoked = await client.login(account.email, account.password);
  expect((await client.request('user', 'POST', '/v1/auth/logout', { token: revoked.accessToken })).status).toBe(204);
  tokens['revoked'] = revoked.accessToken;
  tokens['garbage'] = 'not.a.jwt';
  const missing = Object.entries(tokens).filter(([, t]) => t === undefined);
  expect(missing).toEqual([]);

  const wrong: string[] = [];
  let calls = 0;
  for (const route of routes) {
    const path = route.path.replace(/\{[^}]+\}/g, randomUUID());
    await Promise.all(
      Object.entries(tokens).flatMap(([name, token]) =>
        client.instances(route.service).map(async (_, instance) => {
          calls++;
          const res = await client.request(route.service, route.method, path, { token, instance, ...withBody(route.method) });
          if (res.status !== 401 || res.body?.code === undefined) wrong.push(`${name} ${route.method} ${route.path} #${instance + 1}: ${res.status} ${res.text.slice(0, 120)}`);
        }),
      ),
    );
  }
  expect(wrong).toEqual([]);
  report({
    scenario: 'bad tokens on every bearer route',
    requests: client.sent - before,
    faults: calls,
    doubleCharges: 0,
    lostEvents: 0,
    note: `${routes.length} routes × ${Object.keys(tokens).length} kinds of token (${Object.keys(tokens).join(', ')}) × every instance: all 401`,
  });
});

it("when another user's ids are used on every :id route, then each answer is the 404 of an unknown id and the owner's order and payment are unchanged", async () => {
  const before = client.sent;
  const owner = await client.signUp();
  const other = await client.signUp();
  const orderId = await client.newOrder(owner.accessToken);
  const paid = await client.pay(owner.accessToken, orderId);
  expect(paid.status).toBe(201);
  const paymentId = paid.body.id as string;
  // The order becomes PAID when order-service handles the payment's event: the state to keep is that one.
  const ownerView = async () => {
    const order = await client.request('order', 'GET', `/v1/orders/${orderId}`, { token: owner.accessToken });
    const payment = await client.request('payment', 'GET', `/v1/payments/${paymentId}`, { token: owner.accessToken });
    return [order.body.status, payment.body.status, payment.body.refundedAmount];
  };
  await eventually(async () => (await ownerView())[0] === 'PAID', 10_000);
  expect(await ownerView()).toEqual(['PAID', 'SUCCEEDED', 0]);
  const idRoutes = (await bearerRoutes()).filter((r) => r.path.includes('{'));
  expect(idRoutes.map((r) => `${r.method} ${r.path}`).sort()).toEqual(
    ['GET /v1/orders/{id}', 'GET /v1/orders/{id}/events', 'POST /v1/orders/{id}/cancel', 'GET /v1/payments/{id}', 'POST /v1/payments/{id}/refunds'].sort(),
  );
  const wrong: string[] = [];
  for (const route of idRoutes) {
    const id = route.service === 'order' ? orderId : paymentId;
    const call = (target: string) =>
      client.request(route.service, route.method, route.path.replace('{id}', target), {
        token: other.accessToken,
        headers: { 'idempotency-key': randomUUID() },
        ...withBody(route.method),
      });
    const [theirs, unknown] = [await call(id), await call(randomUUID())];
    if (theirs.status !== 404 || theirs.status !== unknown.status || theirs.body?.code !== unknown.body?.code) {
      wrong.push(`${route.method} ${route.path}: another's ${theirs.status} ${theirs.body?.code}, unknown ${unknown.status} ${unknown.body?.code}`);
    }
  }
  // The ids in bodies and queries too.
  const payTheirs = await client.pay(other.accessToken, orderId);
  if (payTheirs.status !== 404) wrong.push(`POST /v1/payments with another's orderId: ${payTheirs.status}`);
  const listTheirs = await client.request('payment', 'GET', `/v1/payments?orderId=${orderId}`, { token: other.accessToken });
  if (listTheirs.status !== 200 || listTheirs.body.data.length !== 0) wrong.push(`GET /v1/payments?orderId= another's: ${listTheirs.status} ${listTheirs.text}`);
  expect(wrong).toEqual([]);
  expect(await ownerView()).toEqual(['PAID', 'SUCCEEDED', 0]);
  report({
    scenario: "another user's ids on every :id route",
    requests: client.sent - before,
    faults: idRoutes.length + 2,
    doubleCharges: 0,
    lostEvents: 0,
    note: 'every :id route answered 404 as for an unknown id; the owner’s order stayed PAID, the payment SUCCEEDED without refund',
  });
});
