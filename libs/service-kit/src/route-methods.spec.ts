import { buildTestApp, PROBLEM_KEYS } from '../test/test-app';
import type { App } from './server';

describe('a known path and another method', () => {
  let app: App;
  beforeAll(async () => {
    app = await buildTestApp({
      routes: (a) => {
        a.get('/v1/orders', async () => ({ data: [] }));
        a.post('/v1/orders', async () => ({}));
        a.get('/v1/orders/:id', async (request) => ({ id: (request.params as { id: string }).id }));
        a.post('/v1/orders/:id/cancel', async () => ({}));
        a.patch('/v1/users/me', async () => ({}));
        a.get('/v1/users/me', async () => ({}));
      },
    });
  });
  afterAll(() => app.close());

  it('when a path with a parameter is called with a method it does not serve, then 405 problem+json with Allow', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/v1/orders/abc', headers: { 'x-request-id': 'req-405' } });
    expect(res.statusCode).toBe(405);
    expect(res.headers['allow']).toBe('GET, HEAD');
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(PROBLEM_KEYS);
    expect(body).toMatchObject({ status: 405, code: 'METHOD_NOT_ALLOWED', title: 'Method Not Allowed', requestId: 'req-405' });
    expect(body.detail).toBe('/v1/orders/abc does not serve DELETE; it serves GET, HEAD.');
  });

  it.each([
    ['PUT', '/v1/orders', 'GET, HEAD, POST'],
    ['GET', '/v1/orders/abc/cancel', 'POST'],
    ['POST', '/v1/users/me', 'GET, HEAD, PATCH'],
    ['PATCH', '/v1/orders?limit=5', 'GET, HEAD, POST'],
    ['OPTIONS', '/v1/orders/abc', 'GET, HEAD'],
  ])('when %s %s, then 405 with Allow: %s', async (method, url, allow) => {
    const res = await app.inject({ method: method as 'PUT', url });
    expect(res.statusCode).toBe(405);
    expect(res.headers['allow']).toBe(allow);
  });

  it('when HEAD is sent to a path that serves only POST, then 405 with Allow', async () => {
    const res = await app.inject({ method: 'HEAD', url: '/v1/orders/abc/cancel' });
    expect(res.statusCode).toBe(405);
    expect(res.headers['allow']).toBe('POST');
  });

  it('when a path no route serves is called, with any method, then 404 NOT_FOUND without Allow', async () => {
    for (const [method, url] of [
      ['GET', '/v1/nothing'],
      ['DELETE', '/v1/orders/abc/refunds'],
      ['POST', '/v1/orders/abc/cancel/now'],
      ['GET', '/v2/orders'],
    ] as const) {
      const res = await app.inject({ method, url });
      expect([url, res.statusCode]).toEqual([url, 404]);
      expect(res.headers['allow']).toBeUndefined();
      expect(res.json()).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    }
  });

  it('when the kit’s own paths are called with another method, then 405 too', async () => {
    const res = await app.inject({ method: 'POST', url: '/health/live' });
    expect(res.statusCode).toBe(405);
    expect(res.headers['allow']).toBe('GET, HEAD');
  });

  it('when a served method is called, then the route answers', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/orders/abc' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: 'abc' });
  });
});

describe('a known path and OPTIONS, with CORS on', () => {
  let app: App;
  beforeAll(async () => {
    app = await buildTestApp({ corsAllowedOrigins: 'https://shop.example.com', routes: (a) => a.get('/v1/orders/:id', async () => ({})) });
  });
  afterAll(() => app.close());

  it('when another method is refused, then Allow lists OPTIONS too', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/orders/abc' });
    expect(res.statusCode).toBe(405);
    expect(res.headers['allow']).toBe('GET, HEAD, OPTIONS');
  });

  it('when OPTIONS comes with no preflight, then 204 with Allow; on an unknown path, 404', async () => {
    const known = await app.inject({ method: 'OPTIONS', url: '/v1/orders/abc' });
    expect(known.statusCode).toBe(204);
    expect(known.headers['allow']).toBe('GET, HEAD, OPTIONS');
    const unknown = await app.inject({ method: 'OPTIONS', url: '/v1/nothing' });
    expect(unknown.statusCode).toBe(404);
  });
});
