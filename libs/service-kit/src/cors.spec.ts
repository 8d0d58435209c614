import { Type } from '@sinclair/typebox';
import type { LightMyRequestResponse } from 'fastify';
import { buildTestApp } from '../test/test-app';
import { ConfigError, loadConfig } from './config';
import { allowedOrigins, corsEnv, CORS_EXPOSED_HEADERS, CORS_REQUEST_HEADERS } from './cors';
import { HttpProblem } from './problem';
import type { App } from './server';

const Schema = Type.Object({ ...corsEnv() });
const SHOP = 'https://shop.example.com';
const ADMIN = 'http://127.0.0.1:8080';
const STRANGER = 'https://evil.example.net';

/** The CORS fields of an answer, by lower-case name. */
const corsFields = (res: LightMyRequestResponse) => Object.keys(res.headers).filter((h) => h.startsWith('access-control-'));
const list = (value: unknown) => String(value).split(/,\s*/).map((s) => s.toLowerCase()).sort();

describe('CORS_ALLOWED_ORIGINS', () => {
  it('when unset or empty, then there is no cross-origin access', () => {
    expect(loadConfig(Schema, {}).CORS_ALLOWED_ORIGINS).toBeUndefined();
    expect(allowedOrigins(undefined)).toBeUndefined();
    expect(allowedOrigins(loadConfig(Schema, { CORS_ALLOWED_ORIGINS: '' }).CORS_ALLOWED_ORIGINS)).toBeUndefined();
  });

  it('when it lists origins, then each is kept as a browser writes it (host lower-cased, default port dropped)', () => {
    const value = loadConfig(Schema, { CORS_ALLOWED_ORIGINS: 'https://Shop.Example.com:443, http://127.0.0.1:8080,http://[::1]:3000' }).CORS_ALLOWED_ORIGINS;
    expect(allowedOrigins(value)).toEqual([SHOP, ADMIN, 'http://[::1]:3000']);
  });

  it('when it is *, then every origin is allowed', () => {
    expect(allowedOrigins(loadConfig(Schema, { CORS_ALLOWED_ORIGINS: '*' }).CORS_ALLOWED_ORIGINS)).toBe('*');
  });

  it.each([
    ['a path', 'https://shop.example.com/app'],
    ['a trailing slash', 'https://shop.example.com/'],
    ['no scheme', 'shop.example.com'],
    ['another scheme', 'ftp://shop.example.com'],
    ['* among origins', `*,${SHOP}`],
    ['an empty entry', `${SHOP},,${ADMIN}`],
    ['a port that is no number', 'http://127.0.0.1:http'],
  ])('when an origin has %s, then the configuration is refused, naming the variable and what it must be', (_what, value) => {
    let error: unknown;
    try {
      loadConfig(Schema, { CORS_ALLOWED_ORIGINS: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(`CORS_ALLOWED_ORIGINS must be comma-separated origins, each scheme://host[:port]`);
    expect((error as ConfigError).message).toContain(JSON.stringify(value));
  });
});

describe('CORS', () => {
  const apps: App[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  async function app(corsAllowedOrigins?: string): Promise<App> {
    const built = await buildTestApp({
      corsAllowedOrigins,
      routes: (a) => {
        a.get('/v1/things/:id', async (_request, reply) => reply.header('etag', '"v1"').send({ ok: true }));
        a.post('/v1/things', async (_request, reply) => reply.code(201).header('location', '/v1/things/1').send({ id: '1' }));
        a.patch('/v1/things/:id', async () => ({ ok: true }));
        a.get('/v1/limited', async () => {
          throw new HttpProblem({ status: 429, code: 'RATE_LIMITED', detail: 'Slow down.', headers: { 'retry-after': '3' } });
        });
      },
    });
    apps.push(built);
    return built;
  }

  const preflight = (a: App, origin: string, method = 'PATCH', headers = 'authorization,content-type,idempotency-key') =>
    a.inject({ method: 'OPTIONS', url: '/v1/things/1', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers } });

  it('when a preflight comes from an allowed origin, then 204 with the methods, request headers and max age', async () => {
    const a = await app(`${SHOP},${ADMIN}`);
    const res = await preflight(a, ADMIN);
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(res.headers['access-control-allow-origin']).toBe(ADMIN);
    expect(list(res.headers['access-control-allow-methods'])).toEqual(['get', 'head', 'patch', 'post']);
    expect(list(res.headers['access-control-allow-headers'])).toEqual(list(CORS_REQUEST_HEADERS.join(',')));
    expect(res.headers['access-control-max-age']).toBe('600');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    expect(String(res.headers['vary'])).toMatch(/origin/i);
    expect(res.headers['x-request-id']).toBeDefined();
  });

  it('when a preflight comes from another origin, then its answer has no CORS field', async () => {
    const a = await app(SHOP);
    const res = await preflight(a, STRANGER);
    expect(corsFields(res)).toEqual([]);
    // What OPTIONS means without CORS (RFC 9110): the path's methods.
    expect(res.statusCode).toBe(204);
    expect(res.headers['allow']).toBe('GET, HEAD, PATCH, OPTIONS');
  });

  it('when CORS_ALLOWED_ORIGINS is unset, then no answer has a CORS field, preflight or not', async () => {
    const a = await app(undefined);
    const pre = await preflight(a, SHOP);
    expect(corsFields(pre)).toEqual([]);
    expect(pre.statusCode).toBe(405);
    expect(pre.headers['allow']).toBe('GET, HEAD, PATCH');
    const get = await a.inject({ method: 'GET', url: '/v1/things/1', headers: { origin: SHOP } });
    expect(get.statusCode).toBe(200);
    expect(corsFields(get)).toEqual([]);
  });

  it('when an allowed origin reads or creates, then the answer names it and exposes the API headers', async () => {
    const a = await app(SHOP);
    for (const res of [
      await a.inject({ method: 'GET', url: '/v1/things/1', headers: { origin: SHOP } }),
      await a.inject({ method: 'POST', url: '/v1/things', headers: { origin: SHOP }, payload: {} }),
    ]) {
      expect(res.statusCode).toBeLessThan(300);
      expect(res.headers['access-control-allow-origin']).toBe(SHOP);
      expect(list(res.headers['access-control-expose-headers'])).toEqual(list(CORS_EXPOSED_HEADERS.join(',')));
      expect(res.headers['access-control-allow-methods']).toBeUndefined();
    }
  });

  it.each([
    ['a 404', 'GET', '/v1/nothing-here', 404],
    ['a 405', 'POST', '/v1/things/1', 405],
    ['a 429', 'GET', '/v1/limited', 429],
    ['a 400', 'PATCH', '/v1/things/1', 400],
  ] as const)('when %s answers an allowed origin, then it carries the CORS fields, so the page can read the problem', async (_what, method, url, status) => {
    const a = await app(SHOP);
    const body = method === 'PATCH' ? { headers: { 'content-type': 'application/json' }, payload: '{' } : {};
    const res = await a.inject({ method, url, ...body, headers: { origin: SHOP, ...body.headers } });
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['access-control-allow-origin']).toBe(SHOP);
    expect(list(res.headers['access-control-expose-headers'])).toContain('retry-after');
  });

  it('when another origin calls, then the answer is served but carries no CORS field (the browser withholds it)', async () => {
    const a = await app(SHOP);
    const res = await a.inject({ method: 'GET', url: '/v1/things/1', headers: { origin: STRANGER } });
    expect(res.statusCode).toBe(200);
    expect(corsFields(res)).toEqual([]);
  });

  it('when CORS_ALLOWED_ORIGINS is *, then any origin is answered with *', async () => {
    const a = await app('*');
    const res = await a.inject({ method: 'GET', url: '/v1/things/1', headers: { origin: STRANGER } });
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect((await preflight(a, STRANGER)).headers['access-control-allow-origin']).toBe('*');
  });

  it('when a route uses a method CORS does not allow, then the app does not start', async () => {
    await expect(buildTestApp({ corsAllowedOrigins: SHOP, routes: (a) => a.delete('/v1/things/:id', async () => ({})) })).rejects.toThrow(
      /route DELETE \/v1\/things\/:id uses a method CORS does not allow/,
    );
  });
});
