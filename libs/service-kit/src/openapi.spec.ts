import { Type } from '@sinclair/typebox';
import { buildTestApp } from '../test/test-app';
import { problemResponses, UNAVAILABLE } from './openapi';
import { HttpProblem } from './problem';
import type { App } from './server';

const Thing = Type.Object({ id: Type.String(), name: Type.String() }, { additionalProperties: false });

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the parsed document

/**
 * Routes as services write them: their own answers by status and code; the kit adds its own.
 * `/things/:id` answers 404 with an extension member, 200 with a property its schema does not
 * declare, and 201 with Location.
 */
async function app(): Promise<App> {
  return buildTestApp({
    routes: (a) => {
      a.get('/things/:id', {
        schema: {
          operationId: 'getThing',
          summary: 'One thing',
          params: Type.Object({ id: Type.String({ maxLength: 8 }) }),
          response: { 200: Thing, ...problemResponses({ 404: { codes: ['NOT_FOUND'], extensions: { hint: { type: 'string' } } }, 503: UNAVAILABLE }) },
        },
        handler: async (request) => {
          const { id } = request.params as { id: string };
          if (id === 'gone') throw new HttpProblem({ status: 404, code: 'NOT_FOUND', detail: 'No such thing.', extensions: { hint: 'look elsewhere' } });
          return { id, name: 'a thing', secret: 'not for the client' };
        },
      });
      a.post('/things', {
        schema: { operationId: 'createThing', summary: 'A new thing', body: Type.Object({ name: Type.String() }), response: { 201: Thing }, responseHeaders: { 201: ['Location'] } },
        handler: async (request, reply) => reply.code(201).header('location', '/things/t1').send({ id: 't1', name: (request.body as { name: string }).name }),
      });
    },
  });
}

describe('OpenAPI answers', () => {
  let a: App;
  let doc: Json;

  beforeAll(async () => {
    a = await app();
    doc = (await a.inject({ method: 'GET', url: '/docs/json' })).json();
  });
  afterAll(() => a.close());

  it('when a route names its problem answers, then each is application/problem+json with exactly its codes and extension members', () => {
    const responses = doc['paths']['/things/{id}'].get.responses;
    const schema = responses['404'].content['application/problem+json'].schema;
    expect(schema.allOf[0]).toEqual({ $ref: '#/components/schemas/Problem' });
    expect(schema.allOf[1].properties).toEqual({ code: { type: 'string', enum: ['NOT_FOUND'] }, hint: { type: 'string' } });
    expect(Object.keys(responses['503'].headers)).toEqual(['x-request-id', 'Retry-After']);
    expect(responses['200'].content['application/json'].schema.properties).toHaveProperty('name');
  });

  it('when the kit answers for a route, then its statuses and codes join the route’s own: 408 and 431 everywhere, a body’s 400/413/415, validation’s 400', () => {
    const get = doc['paths']['/things/{id}'].get.responses;
    const post = doc['paths']['/things'].post.responses;
    expect(Object.keys(get).sort()).toEqual(['200', '400', '404', '408', '414', '431', '503']);
    expect(Object.keys(post).sort()).toEqual(['201', '400', '408', '413', '415', '431']);
    expect(post['400'].content['application/problem+json'].schema.allOf[1].properties.code.enum).toEqual(['BAD_REQUEST', 'MALFORMED_JSON', 'VALIDATION_FAILED']);
    expect(post['431'].content['application/problem+json'].schema.allOf[1].properties.code.enum).toEqual(['HEADERS_TOO_LARGE']);
    expect(post['408'].content['application/problem+json'].schema.allOf[1].properties.code.enum).toEqual(['REQUEST_TIMEOUT']);
  });

  it('when the document is built, then every answer has x-request-id, each header and parameter is a shared component, and only used ones are there', () => {
    for (const operations of Object.values(doc['paths'] as Json)) {
      for (const op of Object.values(operations as Json) as Json[]) {
        for (const response of Object.values(op['responses']) as Json[]) expect(response['headers']['x-request-id']).toEqual({ $ref: '#/components/headers/XRequestId' });
        expect(op['parameters']).toContainEqual({ $ref: '#/components/parameters/XRequestId' });
        expect(op['security']).toEqual([]);
        expect(op['operationId']).toMatch(/^[a-z][A-Za-z]+$/);
      }
    }
    expect(doc['paths']['/things'].post.responses['201'].headers['Location']).toEqual({ $ref: '#/components/headers/Location' });
    expect(Object.keys(doc['components']['headers']).sort()).toEqual(['Location', 'RetryAfter', 'XRequestId']);
    expect(Object.keys(doc['components']['parameters'])).toEqual(['XRequestId']);
    // Nothing here asks for a token: no scheme, so Swagger UI shows no Authorize button.
    expect(doc['components']['securitySchemes']).toBeUndefined();
  });

  it('when a route with problem schemas answers, then the problem body goes out whole, extension members included, and a 200 still drops what its schema does not declare', async () => {
    const problem = await a.inject({ method: 'GET', url: '/things/gone', headers: { 'x-request-id': 'req-1' } });
    expect(problem.statusCode).toBe(404);
    expect(problem.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(problem.json()).toEqual({
      type: 'urn:problem-type:not-found',
      title: 'Not Found',
      status: 404,
      detail: 'No such thing.',
      code: 'NOT_FOUND',
      requestId: 'req-1',
      hint: 'look elsewhere',
    });
    const ok = await a.inject({ method: 'GET', url: '/things/t1' });
    expect(ok.json()).toEqual({ id: 't1', name: 'a thing' });
    const invalid = await a.inject({ method: 'GET', url: '/things/too-long-an-id' });
    expect(invalid.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: 'params/id', message: expect.any(String) }] });
    // The router's own answers for a path parameter, documented on the route with x-request-id alone.
    const responses = doc['paths']['/things/{id}'].get.responses;
    const overlong = await a.inject({ method: 'GET', url: `/things/${'x'.repeat(300)}` });
    expect([overlong.statusCode, overlong.json().code]).toEqual([414, 'URI_TOO_LONG']);
    expect(responses['414'].content['application/problem+json'].schema.allOf[1].properties.code.enum).toEqual(['URI_TOO_LONG']);
    expect(Object.keys(responses['414'].headers)).toEqual(['x-request-id']);
    const badlyEncoded = await a.inject({ method: 'GET', url: '/things/%E0%A4%A' });
    expect([badlyEncoded.statusCode, badlyEncoded.json().code]).toEqual([400, 'BAD_REQUEST']);
    expect(responses['400'].content['application/problem+json'].schema.allOf[1].properties.code.enum).toEqual(['BAD_REQUEST', 'VALIDATION_FAILED']);
  });
});
