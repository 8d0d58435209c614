import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { LightMyRequestResponse } from 'fastify';
import { errors as undici } from 'undici';
import { buildTestApp, PROBLEM_KEYS, UUID_V7 } from '../test/test-app';
import { toProblem } from './error-handler';
import { DependencyUnavailableError, HttpProblem } from './problem';
import { BODY_LIMIT_BYTES, type App } from './server';

const Item = Type.Object(
  {
    sku: Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }),
    quantity: Type.Integer({ minimum: 1, maximum: 1000 }),
  },
  { additionalProperties: false },
);
const OrderBody = Type.Object(
  { currency: Type.String({ pattern: '^[A-Z]{3}$' }), items: Type.Array(Item, { minItems: 1, maxItems: 100 }) },
  { additionalProperties: false },
);
const ListQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }) }, { additionalProperties: false });
const Note = Type.Object({ text: Type.String() }, { additionalProperties: false });
// Declared without `additionalProperties: false`, as a careless route might: the kit closes it anyway.
const OpenProfile = Type.Object({ name: Type.String(), address: Type.Object({ city: Type.String() }) });

const INTERNALS = "ER_PARSE_ERROR: You have an error in your SQL syntax near 'SELECT * FROM users' at db-primary.internal:3306";

function routes(app: App): void {
  app.post('/orders', { schema: { body: OrderBody, response: { 201: OrderBody } } }, async (request, reply) =>
    reply.code(201).send(request.body),
  );
  app.get('/orders', { schema: { querystring: ListQuery } }, async (request) => ({
    limit: request.query.limit,
    type: typeof request.query.limit,
  }));
  app.get('/orders/:id', { schema: { params: Type.Object({ id: Type.String({ maxLength: 64 }) }) } }, async (request) => ({
    id: request.params.id,
  }));
  app.post('/notes', { schema: { body: Note } }, async (request) => ({ length: request.body.text.length }));
  app.post('/profile', { schema: { body: OpenProfile } }, async (request) => request.body);
  app.get('/declined', async () => {
    throw new HttpProblem({ status: 402, code: 'CARD_DECLINED', detail: 'The card was declined.', extensions: { paymentId: 'pay_123' } });
  });
  app.get('/spoof', async () => {
    throw new HttpProblem({ status: 409, code: 'CONFLICT', detail: 'x', extensions: { status: 200, code: 'OK', requestId: 'spoofed', extra: 1 } });
  });
  app.get('/limited', async () => {
    throw new HttpProblem({ status: 429, code: 'RATE_LIMITED', detail: 'Slow down.', headers: { 'retry-after': '7' } });
  });
  app.get('/gone', async () => {
    throw HttpProblem.notFound();
  });
  app.get('/conflict', async () => {
    throw Object.assign(new Error('That name is taken.'), { statusCode: 409 });
  });
  app.get('/sql-error', async () => {
    throw new Error(INTERNALS);
  });
  app.get('/null', async () => {
    throw null;
  });
  app.get('/refused', async () => {
    throw Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:3306'), { code: 'ECONNREFUSED' });
  });
  app.get('/driver-timeout', async () => {
    // The shape of TypeORM's QueryFailedError: the driver's error is kept in `driverError`.
    throw Object.assign(new Error('Lock wait timeout exceeded at db-primary.internal'), {
      driverError: { code: 'ER_LOCK_WAIT_TIMEOUT' },
    });
  });
  app.get('/redis-down', async () => {
    throw new DependencyUnavailableError('redis', { cause: new Error('connect ETIMEDOUT cache.internal:6379') });
  });
}

const validOrder = { currency: 'EUR', items: [{ sku: 'SKU-1', quantity: 2 }] };

function expectProblem(res: LightMyRequestResponse, status: number, code: string): Record<string, unknown> {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  const body = res.json();
  expect(body).toMatchObject({ status, code, requestId: res.headers['x-request-id'] });
  return body;
}

describe('errors as problem+json', () => {
  let app: App;
  beforeAll(async () => {
    app = await buildTestApp({ routes });
  });
  afterAll(() => app.close());

  const postOrder = (payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/orders', payload: payload as object, headers });

  it('when a body is valid, then the route answers', async () => {
    const res = await postOrder(validOrder);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual(validOrder);
  });

  it('when a body fails validation, then 400 VALIDATION_FAILED lists each error by path and carries the request id', async () => {
    const res = await postOrder(
      { currency: 'EUR', items: [{ sku: 'not a sku!', quantity: 1 }, { quantity: 0 }] },
      { 'x-request-id': 'req-validation-1' },
    );
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(res.headers['x-request-id']).toBe('req-validation-1');
    expect(body['requestId']).toBe('req-validation-1');
    expect(body).toMatchObject({ type: 'urn:problem-type:validation-failed', title: 'Bad Request' });
    const errors = body['errors'] as { path: string; message: string }[];
    expect(errors.map((e) => e.path)).toEqual(
      expect.arrayContaining(['body/items/0/sku', 'body/items/1/sku', 'body/items/1/quantity']),
    );
    for (const e of errors) {
      expect(Object.keys(e).sort()).toEqual(['message', 'path']);
      expect(e.message).toEqual(expect.any(String));
    }
  });

  it('when a body has a property the schema does not declare, then 400 names it', async () => {
    const res = await postOrder({ ...validOrder, userId: 'someone-else' });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(body['errors']).toEqual([{ path: 'body/userId', message: 'is not an allowed property' }]);
  });

  it('when a nested object has an undeclared property, then its full path is named', async () => {
    const res = await postOrder({ currency: 'EUR', items: [{ sku: 'A', quantity: 1, unitPrice: 1 }] });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(body['errors']).toEqual([{ path: 'body/items/0/unitPrice', message: 'is not an allowed property' }]);
  });

  it('when "100" is sent where the body declares an integer, then 400 (no coercion)', async () => {
    const res = await postOrder({ currency: 'EUR', items: [{ sku: 'A', quantity: '100' }] });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(body['errors']).toEqual([{ path: 'body/items/0/quantity', message: 'must be integer' }]);
  });

  it('when a number is sent where the body declares a string, then 400 (no coercion)', async () => {
    const res = await app.inject({ method: 'POST', url: '/notes', payload: { text: 100 } });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(body['errors']).toEqual([{ path: 'body/text', message: 'must be string' }]);
  });

  it('when a query string carries an integer, then it is coerced', async () => {
    const res = await app.inject({ method: 'GET', url: '/orders?limit=5' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ limit: 5, type: 'number' });
  });

  it('when a query string leaves out a value with a default, then the default applies', async () => {
    const res = await app.inject({ method: 'GET', url: '/orders' });
    expect(res.json()).toEqual({ limit: 20, type: 'number' });
  });

  it('when a query string value is not an integer, then 400 names querystring/limit', async () => {
    const res = await app.inject({ method: 'GET', url: '/orders?limit=abc' });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(body['errors']).toEqual([{ path: 'querystring/limit', message: 'must be integer' }]);
  });

  it('when a body is exactly 64 KiB, then it is accepted', async () => {
    const payload = JSON.stringify({ text: 'a'.repeat(BODY_LIMIT_BYTES - '{"text":""}'.length) });
    expect(Buffer.byteLength(payload)).toBe(64 * 1024);
    const res = await app.inject({ method: 'POST', url: '/notes', payload, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(200);
  });

  it('when a body is over 64 KiB, then 413 PAYLOAD_TOO_LARGE', async () => {
    const payload = JSON.stringify({ text: 'a'.repeat(BODY_LIMIT_BYTES) });
    const res = await app.inject({ method: 'POST', url: '/notes', payload, headers: { 'content-type': 'application/json' } });
    const body = expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
    expect(body['title']).toBe('Payload Too Large');
  });

  it('when a body without content-length streams past 64 KiB, then 413 PAYLOAD_TOO_LARGE', async () => {
    const chunks = ['{"text":"', ...Array.from({ length: 70 }, () => 'a'.repeat(1024)), '"}'];
    const res = await app.inject({
      method: 'POST',
      url: '/notes',
      payload: Readable.from(chunks),
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('when JSON is malformed, then 400 MALFORMED_JSON', async () => {
    const res = await app.inject({ method: 'POST', url: '/notes', payload: '{"text":', headers: { 'content-type': 'application/json' } });
    expectProblem(res, 400, 'MALFORMED_JSON');
  });

  it('when a JSON body is empty, then 400 MALFORMED_JSON', async () => {
    const res = await app.inject({ method: 'POST', url: '/notes', payload: '', headers: { 'content-type': 'application/json' } });
    expectProblem(res, 400, 'MALFORMED_JSON');
  });

  it('when the content type is not supported, then 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const res = await app.inject({ method: 'POST', url: '/notes', payload: '<text/>', headers: { 'content-type': 'application/xml' } });
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('when extension members reuse a standard name, then the standard members win', async () => {
    const res = await app.inject({ method: 'GET', url: '/spoof' });
    const body = expectProblem(res, 409, 'CONFLICT');
    expect(body['extra']).toBe(1);
    expect(body['requestId']).not.toBe('spoofed');
  });

  it('when a peer call times out or loses its connection, then it maps to 503 DEPENDENCY_UNAVAILABLE; an aborted call does not', () => {
    for (const error of [new undici.ConnectTimeoutError(), new undici.HeadersTimeoutError(), new undici.BodyTimeoutError(), new undici.SocketError('other side closed')]) {
      expect(toProblem(error)).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE', headers: { 'retry-after': '1' } });
    }
    expect(toProblem(new undici.RequestAbortedError())).toMatchObject({ status: 500 });
  });

  it('when a failing schema has an x-error-message, then the 400 says it once for that path instead of the keywords', () => {
    const parentSchema = { type: 'string', enum: ['EUR'], 'x-error-message': 'must be a currency' };
    const error = Object.assign(new Error('invalid'), {
      validationContext: 'body',
      validation: [
        { instancePath: '/currency', keyword: 'type', params: {}, message: 'must be string', parentSchema },
        { instancePath: '/currency', keyword: 'enum', params: {}, message: 'must be equal to one of the allowed values', parentSchema },
        { instancePath: '/name', keyword: 'type', params: {}, message: 'must be string', parentSchema: { type: 'string' } },
      ],
    });
    expect(toProblem(error).errors).toEqual([
      { path: 'body/currency', message: 'must be a currency' },
      { path: 'body/name', message: 'must be string' },
    ]);
  });

  it.each(['utf-16', 'UTF-16', 'us-ascii', '"iso-8859-1"', ''])(
    'when a JSON body names charset=%s, then 415 UNSUPPORTED_MEDIA_TYPE naming UTF-8',
    async (charset) => {
      const res = await app.inject({ method: 'POST', url: '/notes', payload: '{"text":"hi"}', headers: { 'content-type': `application/json; charset=${charset}` } });
      expect(expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE')['detail']).toMatch(/JSON bodies must be UTF-8/);
    },
  );

  it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON; Charset=UTF-8', 'application/json;charset="utf-8"'])(
    'when a JSON body is sent as %s, then it is parsed',
    async (contentType) => {
      const res = await app.inject({ method: 'POST', url: '/notes', payload: '{"text":"héllo"}', headers: { 'content-type': contentType } });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ length: 5 });
    },
  );

  it("when a JSON body says charset=utf-8, then Fastify's prototype-poisoning and size checks still hold", async () => {
    const poisoned = await app.inject({ method: 'POST', url: '/notes', payload: '{"text":"a","__proto__":{"x":1}}', headers: { 'content-type': 'application/json; charset=utf-8' } });
    expectProblem(poisoned, 400, 'MALFORMED_JSON');
    const big = await app.inject({ method: 'POST', url: '/notes', payload: JSON.stringify({ text: 'x'.repeat(BODY_LIMIT_BYTES) }), headers: { 'content-type': 'application/json; charset=utf-8' } });
    expectProblem(big, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('when a text/plain body is sent, then 415 UNSUPPORTED_MEDIA_TYPE (JSON only)', async () => {
    const res = await app.inject({ method: 'POST', url: '/notes', payload: 'hello', headers: { 'content-type': 'text/plain' } });
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('when a body schema does not close its objects, then undeclared properties are still a 400 at every depth', async () => {
    const ok = await app.inject({ method: 'POST', url: '/profile', payload: { name: 'Ada', address: { city: 'Oslo' } } });
    expect(ok.statusCode).toBe(200);
    const top = await app.inject({ method: 'POST', url: '/profile', payload: { name: 'Ada', address: { city: 'Oslo' }, role: 'admin' } });
    expect(expectProblem(top, 400, 'VALIDATION_FAILED')['errors']).toEqual([{ path: 'body/role', message: 'is not an allowed property' }]);
    const nested = await app.inject({ method: 'POST', url: '/profile', payload: { name: 'Ada', address: { city: 'Oslo', zip: '1' } } });
    expect(expectProblem(nested, 400, 'VALIDATION_FAILED')['errors']).toEqual([
      { path: 'body/address/zip', message: 'is not an allowed property' },
    ]);
  });

  it('when no route matches, then 404 NOT_FOUND names the path but not the query string', async () => {
    const res = await app.inject({ method: 'GET', url: '/nowhere?token=secret' });
    const body = expectProblem(res, 404, 'NOT_FOUND');
    expect(body['detail']).toBe('No route for GET /nowhere.');
    expect(res.body).not.toContain('secret');
  });

  it('when a path parameter cannot be decoded, then 400 BAD_REQUEST with the request id', async () => {
    const res = await app.inject({ method: 'GET', url: '/orders/%E0%A4%A', headers: { 'x-request-id': 'req-bad-url' } });
    expect(expectProblem(res, 400, 'BAD_REQUEST')['requestId']).toBe('req-bad-url');
  });

  it('when a path parameter is longer than the router allows, then 414 problem+json with the request id', async () => {
    const res = await app.inject({ method: 'GET', url: `/orders/${'a'.repeat(300)}`, headers: { 'x-request-id': 'req-long-url' } });
    expect(res.statusCode).toBe(414);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toMatchObject({ status: 414, code: 'URI_TOO_LONG', requestId: 'req-long-url' });
  });

  it('when a route throws an HttpProblem, then its status, code, detail and extension members are sent', async () => {
    const res = await app.inject({ method: 'GET', url: '/declined' });
    const body = expectProblem(res, 402, 'CARD_DECLINED');
    expect(body).toEqual({
      type: 'urn:problem-type:card-declined',
      title: 'Payment Required',
      status: 402,
      detail: 'The card was declined.',
      code: 'CARD_DECLINED',
      requestId: res.headers['x-request-id'],
      paymentId: 'pay_123',
    });
  });

  it('when an HttpProblem carries headers, then they are sent', async () => {
    const res = await app.inject({ method: 'GET', url: '/limited' });
    expectProblem(res, 429, 'RATE_LIMITED');
    expect(res.headers['retry-after']).toBe('7');
  });

  it('when a route throws HttpProblem.notFound(), then 404 NOT_FOUND', async () => {
    const res = await app.inject({ method: 'GET', url: '/gone' });
    expect(expectProblem(res, 404, 'NOT_FOUND')['detail']).toBe('The resource does not exist.');
  });

  it('when an error names only a 4xx status, then the code follows from the status', async () => {
    const res = await app.inject({ method: 'GET', url: '/conflict' });
    expect(expectProblem(res, 409, 'CONFLICT')['detail']).toBe('That name is taken.');
  });

  it('when a route throws an error that mentions SQL and host names, then 500 INTERNAL_ERROR shows neither, nor a stack', async () => {
    const res = await app.inject({ method: 'GET', url: '/sql-error' });
    const body = expectProblem(res, 500, 'INTERNAL_ERROR');
    expect(body['detail']).toBe('An unexpected error occurred.');
    for (const leak of ['SELECT', 'SQL', 'db-primary', 'ER_PARSE_ERROR', 'stack', 'Error:', '.ts:']) {
      expect(res.body).not.toContain(leak);
    }
  });

  it('when a route throws null, then 500 INTERNAL_ERROR is still problem+json', async () => {
    const res = await app.inject({ method: 'GET', url: '/null' });
    expect(Object.keys(expectProblem(res, 500, 'INTERNAL_ERROR')).sort()).toEqual(PROBLEM_KEYS);
  });

  it.each([
    ['an error with code ECONNREFUSED', '/refused'],
    ["a driver error wrapped as TypeORM's", '/driver-timeout'],
    ['a DependencyUnavailableError', '/redis-down'],
  ])('when a route throws %s, then 503 DEPENDENCY_UNAVAILABLE with Retry-After and no internals', async (_what, url) => {
    const res = await app.inject({ method: 'GET', url });
    expectProblem(res, 503, 'DEPENDENCY_UNAVAILABLE');
    expect(res.headers['retry-after']).toBe('1');
    for (const leak of ['10.1.2.3', 'internal', 'ECONNREFUSED', 'ETIMEDOUT', 'redis']) {
      expect(res.body).not.toContain(leak);
    }
  });

  it.each([
    ['malformed JSON', { method: 'POST', url: '/notes', payload: '{', headers: { 'content-type': 'application/json' } }],
    ['too large a body', { method: 'POST', url: '/notes', payload: `"${'a'.repeat(BODY_LIMIT_BYTES)}"`, headers: { 'content-type': 'application/json' } }],
    ['an unsupported media type', { method: 'POST', url: '/notes', payload: 'x', headers: { 'content-type': 'application/xml' } }],
    ['an unknown route', { method: 'GET', url: '/nowhere' }],
    ['an undecodable URL', { method: 'GET', url: '/orders/%E0%A4%A' }],
    ['an HttpProblem without extensions', { method: 'GET', url: '/gone' }],
    ['a 4xx error', { method: 'GET', url: '/conflict' }],
    ['an unexpected error', { method: 'GET', url: '/sql-error' }],
    ['an unavailable dependency', { method: 'GET', url: '/refused' }],
  ] as const)('when the answer is an error for %s, then its body has exactly the RFC 9457 members and code', async (_what, req) => {
    const res = await app.inject(req);
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(PROBLEM_KEYS);
    expect(body.status).toBe(res.statusCode);
    expect(body.code).toMatch(/^[A-Z][A-Z0-9_]*$/);
    expect(body.type).toBe(`urn:problem-type:${body.code.toLowerCase().replace(/_/g, '-')}`);
    expect(body.title).toEqual(expect.any(String));
    expect(body.detail).toEqual(expect.any(String));
    expect(body.requestId).toBe(res.headers['x-request-id']);
    expect(body.requestId).toMatch(UUID_V7);
  });

  it('when the answer is a validation error, then errors[] is the only member added', async () => {
    const res = await postOrder({});
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(Object.keys(body).sort()).toEqual([...PROBLEM_KEYS, 'errors'].sort());
    expect(body['errors']).toEqual(
      expect.arrayContaining([
        { path: 'body/currency', message: expect.any(String) },
        { path: 'body/items', message: expect.any(String) },
      ]),
    );
  });
});
