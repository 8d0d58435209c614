import type { App } from '@platform/service-kit';
import { TcpProxy, eventually } from '@platform/testing';
import { ITEM, bearer, buildSignedIn, createOrder, type Built, type OrderJson } from './helper';

/**
 * Redis cut in the middle (a TCP proxy in front of the real one), with revocation set to
 * fail open so that signed-in requests still get through: reads go to MySQL, a cancel made
 * meanwhile is hidden by the entry cached before it for at most about a second after Redis is back.
 */
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const proxy = TcpProxy.forUrl(redisUrl);
let app: App;
let tokenFor: Built['tokenFor'];

beforeAll(async () => {
  await proxy.start();
  ({ app, tokenFor } = await buildSignedIn({ REDIS_URL: proxy.rewrite(redisUrl), REDIS_COMMAND_TIMEOUT_MS: '200', REVOCATION_FAIL_MODE: 'open' }));
});
afterAll(async () => {
  await app?.close();
  await proxy.stop();
});

const get = (token: string, id: string) => app.inject({ method: 'GET', url: `/v1/orders/${id}`, headers: bearer(token) });

it('when Redis goes down, then reads come from MySQL, a cancel succeeds, and the entry cached before is gone within seconds of Redis returning', async () => {
  const { token } = tokenFor();
  const order = await createOrder(app, token);
  expect((await get(token, order.id)).json<OrderJson>().status).toBe('PENDING');
  expect((await get(token, order.id)).json<OrderJson>().status).toBe('PENDING');

  await proxy.stop();
  const read = await get(token, order.id);
  expect(read.statusCode).toBe(200);
  expect(read.json<OrderJson>().status).toBe('PENDING');
  const cancelled = await app.inject({ method: 'POST', url: `/v1/orders/${order.id}/cancel`, headers: bearer(token) });
  expect(cancelled.statusCode).toBe(200);
  expect((await get(token, order.id)).json<OrderJson>().status).toBe('CANCELLED');

  await proxy.start();
  expect(await eventually(async () => (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200, 10_000, 50)).toBe(true);
  // The drop that failed is retried every second in the background, so the PENDING cached
  // before the outage can be read for about a second after Redis's return, and then never.
  expect(await eventually(async () => (await get(token, order.id)).json<OrderJson>().status === 'CANCELLED', 5_000, 50)).toBe(true);
  for (let i = 0; i < 3; i++) expect((await get(token, order.id)).json<OrderJson>().status).toBe('CANCELLED');
});

it('when Redis is down, then a create without a key works and a create with an Idempotency-Key is 503, not run unprotected', async () => {
  const { token } = tokenFor();
  await proxy.stop();
  try {
    const plain = await app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(token), payload: { currency: 'EUR', items: [ITEM] } });
    expect(plain.statusCode).toBe(201);
    const keyed = await app.inject({
      method: 'POST',
      url: '/v1/orders',
      headers: { ...bearer(token), 'idempotency-key': 'during-outage' },
      payload: { currency: 'EUR', items: [ITEM] },
    });
    expect(keyed.statusCode).toBe(503);
    expect(keyed.json<{ code: string }>().code).toBe('DEPENDENCY_UNAVAILABLE');
  } finally {
    await proxy.start();
  }
});
