import { DocumentCheck, templatesOf, type Observed, type OpenApiDocument } from './openapi-check';

const problem = { $ref: '#/components/schemas/Problem' };
const json = (schema: unknown) => ({ 'application/json': { schema } });
const problemJson = { 'application/problem+json': { schema: problem } };
const requestId = { 'x-request-id': { required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' } } };

/** A small document in the shape @fastify/swagger serves: a list, an item, a cancel and a health route. */
const DOC: OpenApiDocument = {
  openapi: '3.0.3',
  components: {
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'detail', 'code', 'requestId'],
        properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, code: { type: 'string', enum: ['NOT_FOUND', 'VALIDATION_FAILED'] }, requestId: { type: 'string' } },
      },
      Order: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'status', 'note'],
        properties: { id: { type: 'string', format: 'uuid', example: '0190…' }, status: { type: 'string', enum: ['PENDING', 'PAID'] }, note: { type: 'string', nullable: true } },
      },
    },
    headers: { RetryAfter: { required: true, schema: { type: 'integer', minimum: 0 } } },
  },
  paths: {
    '/health/live': { get: { responses: { 200: { description: 'up', content: json({ type: 'object' }), headers: requestId } } } },
    '/v1/orders': {
      post: {
        responses: {
          201: { description: 'made', content: json({ $ref: '#/components/schemas/Order' }), headers: { ...requestId, Location: { required: true, schema: { type: 'string', pattern: '^/v1/orders/' } } } },
          400: { description: 'bad', content: problemJson, headers: requestId },
          503: { description: 'down', content: problemJson, headers: { ...requestId, 'Retry-After': { $ref: '#/components/headers/RetryAfter' } } },
        },
      },
    },
    '/v1/orders/{id}': {
      get: { responses: { 200: { description: 'one', content: json({ $ref: '#/components/schemas/Order' }) }, 304: { description: 'unchanged' }, default: { description: 'error', content: problemJson } } },
    },
    '/v1/orders/summary': { get: { responses: { 200: { description: 'static', content: json({ type: 'object', required: ['count'] }) } } } },
    '/v1/orders/{id}/cancel': { post: { responses: { 204: { description: 'cancelled' } } } },
  },
};

const ID = '0190a0a0-0000-7000-8000-000000000001';
const order = { id: ID, status: 'PENDING', note: null };
const answer = (method: string, path: string, status: number, headers: Record<string, string>, body?: unknown): Observed => ({
  method,
  path,
  status,
  headers: new Headers(headers),
  text: body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body),
});
const made = (extra: Record<string, string> = {}, body: unknown = order) =>
  answer('POST', '/v1/orders', 201, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'r1', location: `/v1/orders/${ID}`, ...extra }, body);
const problemOf = (status: number, code: string, requestId = 'r1') => ({ type: 'urn:x', title: 't', status, detail: 'd', code, requestId });

describe('templatesOf', () => {
  it('when a concrete path fits a static template and a parameter one, then the static one comes first', () => {
    expect(templatesOf(DOC, '/v1/orders/summary')).toEqual(['/v1/orders/summary', '/v1/orders/{id}']);
    expect(templatesOf(DOC, `/v1/orders/${ID}/cancel?x=1`)).toEqual(['/v1/orders/{id}/cancel']);
    expect(templatesOf(DOC, '/v1/nothing')).toEqual([]);
  });
});

describe('DocumentCheck', () => {
  const check = new DocumentCheck(DOC);

  it('when answers conform (body by $ref with a null, required and documented headers, 304 and 204 without a body, default), then no violation', () => {
    expect(check.violations(made())).toEqual([]);
    expect(check.violations(answer('GET', `/v1/orders/${ID}?fields=all`, 200, { 'content-type': 'application/json' }, { ...order, note: 'hi' }))).toEqual([]);
    expect(check.violations(answer('GET', `/v1/orders/${ID}`, 304, {}))).toEqual([]);
    expect(check.violations(answer('POST', `/v1/orders/${ID}/cancel`, 204, {}))).toEqual([]);
    expect(check.violations(answer('GET', `/v1/orders/${ID}`, 404, { 'content-type': 'application/problem+json' }, problemOf(404, 'NOT_FOUND')))).toEqual([]);
    expect(check.violations(answer('GET', '/v1/orders/summary', 200, { 'content-type': 'application/json' }, { count: 1 }))).toEqual([]);
    const down = answer('POST', '/v1/orders', 503, { 'content-type': 'application/problem+json', 'x-request-id': 'r1', 'retry-after': '2' }, problemOf(503, 'NOT_FOUND'));
    expect(check.violations(down)).toEqual([]);
  });

  it('when the status is not documented for the operation, then it says so', () => {
    const res = answer('POST', '/v1/orders', 409, { 'content-type': 'application/problem+json', 'x-request-id': 'r1' }, problemOf(409, 'NOT_FOUND'));
    expect(check.violations(res)).toEqual(['status 409 is not documented (documented: 201, 400, 503)']);
  });

  it('when the media type is not the documented one, then it says so', () => {
    expect(check.violations(made({ 'content-type': 'text/plain' }, 'ok'))).toEqual(['media type "text/plain" is not documented (documented: application/json)']);
    const bad = answer('POST', '/v1/orders', 400, { 'content-type': 'application/json', 'x-request-id': 'r1' }, problemOf(400, 'VALIDATION_FAILED'));
    expect(check.violations(bad)).toEqual(['media type "application/json" is not documented (documented: application/problem+json)']);
  });

  it('when there is a body where none is documented, or none where one is, then it says so', () => {
    expect(check.violations(answer('POST', `/v1/orders/${ID}/cancel`, 204, { 'content-type': 'application/json' }, {}))).toEqual(['a body (application/json), but the document describes none']);
    expect(check.violations({ ...made(), text: '' })).toEqual(['no body, but the document describes application/json']);
  });

  it('when the body is off its schema (an undeclared property, a wrong enum, a code the route does not list, a null where none is allowed), then it says where', () => {
    expect(check.violations(made({}, { ...order, extra: 1 }))).toEqual([expect.stringMatching(/^the body is off its schema: .*must NOT have additional properties/)]);
    expect(check.violations(made({}, { ...order, status: 'LOST' }))).toEqual([expect.stringMatching(/body\/status must be equal to one of the allowed values/)]);
    expect(check.violations(made({}, { ...order, id: 'not-a-uuid' }))).toEqual([expect.stringMatching(/body\/id must match format "uuid"/)]);
    const bad = answer('POST', '/v1/orders', 400, { 'content-type': 'application/problem+json', 'x-request-id': 'r1' }, problemOf(400, 'SOMETHING_ELSE'));
    expect(check.violations(bad)).toEqual([expect.stringMatching(/body\/code must be equal to one of the allowed values/)]);
    expect(check.violations(made({}, { ...order, status: null }))).toEqual([expect.stringMatching(/body\/status must be string/)]);
    expect(check.violations(made({ 'content-type': 'application/json' }, '{"id":'))).toEqual(['the body is not JSON']);
  });

  it('when a required header is missing or off its schema, then it says which', () => {
    const { location: _, ...noLocation } = Object.fromEntries(made().headers);
    expect(check.violations(answer('POST', '/v1/orders', 201, noLocation, order))).toEqual(['the required header Location is missing']);
    expect(check.violations(made({ location: '/elsewhere' }))).toEqual([expect.stringMatching(/^header Location: "\/elsewhere" .*must match pattern/)]);
    const down = (retryAfter?: string) =>
      answer('POST', '/v1/orders', 503, { 'content-type': 'application/problem+json', 'x-request-id': 'r1', ...(retryAfter ? { 'retry-after': retryAfter } : {}) }, problemOf(503, 'NOT_FOUND'));
    expect(check.violations(down())).toEqual(['the required header Retry-After is missing']);
    expect(check.violations(down('soon'))).toEqual([expect.stringMatching(/^header Retry-After: "soon" value must be integer/)]);
  });

  it('when an answer carries a header of the documented set that its status does not document, then it names the header', () => {
    expect(check.violations(made({ 'idempotent-replayed': 'true', ratelimit: '"default";r=1;t=1' }))).toEqual([
      'header ratelimit is not documented for 201',
      'header idempotent-replayed is not documented for 201',
    ]);
    expect(check.violations(answer('GET', '/health/live', 200, { 'content-type': 'application/json', 'x-request-id': 'r1', etag: '"1"' }, {}))).toEqual(['header etag is not documented for 200']);
  });

  it('when a path or method is not in the document, then only the kit\'s 404 or 405 problem+json passes', () => {
    const notFound = answer('GET', '/v1/nothing', 404, { 'content-type': 'application/problem+json; charset=utf-8', 'x-request-id': 'r1' }, problemOf(404, 'NOT_FOUND'));
    expect(check.violations(notFound)).toEqual([]);
    const notAllowed = (headers: Record<string, string>) => answer('DELETE', '/v1/orders', 405, { 'content-type': 'application/problem+json', 'x-request-id': 'r1', ...headers }, problemOf(405, 'METHOD_NOT_ALLOWED'));
    expect(check.violations(notAllowed({ allow: 'POST' }))).toEqual([]);
    expect(check.violations(notAllowed({}))).toEqual(['a 405 without Allow']);
    const wrongStatus = answer('DELETE', '/v1/orders', 404, { 'content-type': 'application/problem+json', 'x-request-id': 'r1' }, problemOf(404, 'NOT_FOUND'));
    expect(check.violations(wrongStatus)).toEqual(['status 404: the document has no DELETE /v1/orders, so only 405 problem+json is expected']);
    expect(check.violations(answer('GET', '/v1/nothing', 200, { 'content-type': 'application/json' }, {}))).toEqual([
      'status 200: the document has no GET /v1/nothing, so only 404 problem+json is expected',
      'media type "application/json" where application/problem+json is expected',
    ]);
    const plain = answer('GET', '/v1/nothing', 404, { 'content-type': 'application/problem+json', 'x-request-id': 'r2' }, { message: 'no' });
    expect(check.violations(plain)).toEqual([expect.stringMatching(/^not the problem shape: body must have required property 'type'/)]);
    expect(check.violations({ ...notFound, headers: new Headers({ 'content-type': 'application/problem+json', 'x-request-id': 'r2' }) })).toEqual(["the problem's requestId is not the x-request-id header"]);
  });

  it('when the path is not valid percent-encoding, then only the router\'s 400 problem+json passes, on a templated path too', () => {
    const refused = (status: number) => answer('GET', '/v1/orders/%E0%A4%A', status, { 'content-type': 'application/problem+json', 'x-request-id': 'r1' }, problemOf(status, 'BAD_REQUEST'));
    expect(check.violations(refused(400))).toEqual([]);
    expect(check.violations({ ...refused(400), path: '/v1/nothing/%E0%A4%A' })).toEqual([]);
    expect(check.violations(refused(404))).toEqual(['status 404 for an undecodable path, where 400 problem+json is expected']);
  });

  it('when /metrics or the docs answer (served outside the document), then their media type is checked, and their errors are problem+json', () => {
    expect(check.violations(answer('GET', '/metrics', 200, { 'content-type': 'text/plain; version=0.0.4' }, 'up 1'))).toEqual([]);
    expect(check.violations(answer('GET', '/docs/json', 200, { 'content-type': 'application/json' }, DOC))).toEqual([]);
    expect(check.violations(answer('GET', '/docs', 200, { 'content-type': 'text/html' }, '<html>'))).toEqual([]);
    expect(check.violations(answer('GET', '/metrics', 200, { 'content-type': 'application/json' }, {}))).toEqual(['media type "application/json" is not what GET /metrics serves']);
    expect(check.violations(answer('GET', '/metrics', 503, { 'content-type': 'text/plain' }, 'down'))).toEqual(['media type "text/plain" where application/problem+json is expected']);
  });
});
