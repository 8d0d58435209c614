import { STATUS_CODES } from 'node:http';
import { Type, type TSchema } from '@sinclair/typebox';
import type { RouteOptions } from 'fastify';
import { ProblemSchema, PROBLEM_CONTENT_TYPE } from './problem';

/**
 * What each route can answer, for the OpenAPI document (CONTRACT.md, "The OpenAPI document is
 * exact"). A route names its own answers in its schema (`problemResponses`, `responseHeaders`);
 * the kit adds what every route answers (408, 431, a body's 400/413/415, validation's 400, a path
 * parameter's 400/414, x-request-id),
 * and the plugins in front of the routes add theirs through `app.openapi.describe` (the request
 * pipeline: 401, 429, 503, the RateLimit fields, Idempotency-Key). The pieces are merged when the
 * document is built; headers, parameters and the problem schema are shared components, each
 * defined once here.
 */

/** Response headers the platform sends, by their wire name. */
const HEADERS = {
  'x-request-id': {
    component: 'XRequestId',
    required: true,
    description: 'The request id: the caller’s `x-request-id` when it matches `[A-Za-z0-9._:-]{1,128}`, a new UUID otherwise. A problem body’s `requestId` is the same.',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
  },
  RateLimit: {
    component: 'RateLimit',
    description: 'The caller’s budget under the route’s policy (draft-ietf-httpapi-ratelimit-headers): `"<policy>";r=<remaining>;t=<seconds to reset>`. Absent while Redis cannot be asked.',
    schema: { type: 'string', example: '"default";r=99;t=60' },
  },
  'RateLimit-Policy': {
    component: 'RateLimitPolicy',
    description: 'The route’s rate-limit policy: `"<policy>";q=<limit>;w=<window seconds>`.',
    schema: { type: 'string', example: '"default";q=100;w=60' },
  },
  'Retry-After': {
    component: 'RetryAfter',
    description: 'Seconds to wait before trying again.',
    schema: { type: 'integer', minimum: 0 },
  },
  ETag: {
    component: 'ETag',
    description: 'The strong entity tag of the representation: `"<id>.<version>"`, changing with every change of the resource. Send it back in If-None-Match (304 while unchanged) or If-Match (412 once changed).',
    schema: { type: 'string', example: '"01939f7e-5a4b-7c3d-8e2f-1a2b3c4d5e6f.2"' },
  },
  Location: { component: 'Location', description: 'The path of the resource created.', schema: { type: 'string', format: 'uri-reference' } },
  'Idempotent-Replayed': {
    component: 'IdempotentReplayed',
    description: '`true` when this is the kept answer of an earlier request with the same Idempotency-Key, sent again; absent otherwise.',
    schema: { type: 'string', enum: ['true'] },
  },
  'WWW-Authenticate': {
    component: 'WWWAuthenticate',
    description: 'The Bearer challenge (RFC 6750), naming `error="invalid_token"` when a token was presented.',
    schema: { type: 'string', example: 'Bearer realm="order-platform", error="invalid_token"' },
  },
  'Cache-Control': { component: 'CacheControl', description: 'How long the answer may be cached.', schema: { type: 'string', example: 'public, max-age=300' } },
} as const;

export type ResponseHeader = keyof typeof HEADERS;

const KEY_SCHEMA = { type: 'string', pattern: '^[!-~]+$', example: '8e03978e-40d5-43e8-bc93-6894a57f9324' };
const KEY_DESCRIPTION = '1 to 255 visible ASCII characters, scoped to the caller and the route (a structured-field string in quotes is taken as its content).';

/** Request header parameters, by component name. */
const PARAMETERS = {
  XRequestId: {
    name: 'x-request-id',
    in: 'header',
    required: false,
    description: 'The caller’s request id, echoed in the answer and every log line of the request when it matches `[A-Za-z0-9._:-]{1,128}`.',
    schema: { type: 'string' },
  },
  IfNoneMatch: {
    name: 'If-None-Match',
    in: 'header',
    required: false,
    description: 'Entity tags of the copies the caller holds, or `*`: 304 with no body when one is the current ETag.',
    schema: { type: 'string', example: '"01939f7e-5a4b-7c3d-8e2f-1a2b3c4d5e6f.2"' },
  },
  IfMatch: {
    name: 'If-Match',
    in: 'header',
    required: false,
    description: 'Entity tags the change is meant for, or `*`: 412 PRECONDITION_FAILED, and nothing changes, unless one is the current ETag.',
    schema: { type: 'string', example: '"01939f7e-5a4b-7c3d-8e2f-1a2b3c4d5e6f.2"' },
  },
  CacheControlNoStore: {
    name: 'Cache-Control',
    in: 'header',
    required: false,
    description: '`no-store`: the answer is read as usual (from the cache when it holds it) but, when read from the database, not stored in the cache, for a caller that will not read it again soon.',
    schema: { type: 'string', example: 'no-store' },
  },
  LastEventId: {
    name: 'Last-Event-ID',
    in: 'header',
    required: false,
    description: 'The `id` of the last event the caller received (an EventSource sends it when it reconnects): the stream resumes after it, with nothing missed and nothing repeated.',
    schema: { type: 'string', example: '2' },
  },
  IdempotencyKey: { name: 'Idempotency-Key', in: 'header', required: false, description: `Optional: ${KEY_DESCRIPTION}`, schema: KEY_SCHEMA },
  RequiredIdempotencyKey: { name: 'Idempotency-Key', in: 'header', required: true, description: `Required: ${KEY_DESCRIPTION}`, schema: KEY_SCHEMA },
} as const;

export type RequestParameter = keyof typeof PARAMETERS;

/** One status's problem answers: its `code` values, the headers they carry, and extension members (OpenAPI 3.0 schemas). */
export interface ProblemAnswer {
  codes: readonly string[];
  headers?: readonly ResponseHeader[];
  extensions?: Readonly<Record<string, object>>;
}

/** A status's codes alone, or with their headers and extension members. */
export type ProblemSpec = readonly string[] | ProblemAnswer;

/** What the kit, a plugin or a route adds to a route's answers. */
export interface RouteAnswers {
  problems?: Readonly<Record<number, ProblemSpec>>;
  /** Headers of every answer that passes the route's hooks (not the 408, 414 and 431 answered before them). */
  headers?: readonly ResponseHeader[];
  /** Headers of the answers whose status `on` accepts (never those the server writes itself). */
  headersOn?: { headers: readonly ResponseHeader[]; on: (status: number) => boolean };
  parameters?: readonly RequestParameter[];
  /** `bearer`: the route wants an access token. Undefined leaves it to others; no one saying so means public. */
  security?: 'bearer';
}

export type AnswersOf = (route: RouteOptions) => RouteAnswers | undefined;

declare module 'fastify' {
  interface FastifySchema {
    /** Headers of the route's own answers, by status, for its OpenAPI entry: `{ 201: ['Location'] }`. */
    responseHeaders?: Readonly<Record<number, readonly ResponseHeader[]>>;
    /** Request header parameters the route itself reads, for its OpenAPI entry: `['IfMatch']`. */
    headerParameters?: readonly RequestParameter[];
    /** The route takes a missing body as `{}` (OpenAPI's requestBody is required otherwise). */
    optionalBody?: boolean;
  }
}

const answersOfSchema = new WeakMap<object, ProblemAnswer>();

function problemAnswer(spec: ProblemSpec): ProblemAnswer {
  return Array.isArray(spec) ? { codes: spec as readonly string[] } : (spec as ProblemAnswer);
}

/**
 * A route's own error answers by status, with the `code` values each can carry:
 * `response: { 200: X, ...problemResponses({ 404: ['NOT_FOUND'], 503: UNAVAILABLE }) }`. The schema
 * serialises the problem body; the kit and the pipeline add the answers they send themselves.
 */
export function problemResponses(specs: Readonly<Record<number, ProblemSpec>>): Record<number, TSchema> {
  return Object.fromEntries(
    Object.entries(specs).map(([status, spec]) => {
      const answer = problemAnswer(spec);
      const schema = Type.Object(
        { ...ProblemSchema.properties, code: Type.Unsafe<string>({ type: 'string', enum: [...answer.codes] }) },
        { additionalProperties: true, description: STATUS_CODES[Number(status)] },
      );
      answersOfSchema.set(schema, answer);
      return [status, schema];
    }),
  );
}

/** A conditional read's 304: no body (`sendTagged`, conditional.ts). */
export const NOT_MODIFIED = Type.Null({ description: 'Not Modified' });

/** A dependency (MySQL, Redis, a peer) did not answer: 503 with Retry-After. */
export const UNAVAILABLE: ProblemAnswer = Object.freeze({ codes: ['DEPENDENCY_UNAVAILABLE'], headers: ['Retry-After'] as const });

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Answered before any hook of the route runs, with x-request-id alone: headers too large or the
 * request not in within REQUEST_TIMEOUT_MS (the server's clientErrorHandler), and a path parameter
 * longer than the router takes (its frameworkErrors).
 */
const BEFORE_ROUTING = new Set([408, 414, 431]);

/** What the kit itself answers on every route (server.ts, json-body.ts, error-handler.ts, validation.ts). */
export function kitAnswers(route: RouteOptions): RouteAnswers {
  const problems: Record<number, string[]> = { 408: ['REQUEST_TIMEOUT'], 431: ['HEADERS_TOO_LARGE'] };
  const methods = ([] as string[]).concat(route.method);
  const schema = route.schema ?? {};
  const validated = ['body', 'querystring', 'params', 'headers'].some((part) => (schema as Record<string, unknown>)[part] !== undefined);
  const bad: string[] = [];
  if (validated) bad.push('VALIDATION_FAILED');
  if (methods.some((m) => BODY_METHODS.has(m))) {
    // A JSON body is parsed on every such route, whether or not it declares one.
    bad.push('MALFORMED_JSON', 'BAD_REQUEST');
    problems[413] = ['PAYLOAD_TOO_LARGE'];
    problems[415] = ['UNSUPPORTED_MEDIA_TYPE'];
  }
  if (route.url.includes(':')) {
    // The router's answers (server.ts frameworkErrors): a parameter that is not valid percent-encoding,
    // or one longer than maxParamLength.
    bad.push('BAD_REQUEST');
    problems[414] = ['URI_TOO_LONG'];
  }
  if (bad.length > 0) problems[400] = [...new Set(bad)];
  return { problems, parameters: ['XRequestId'] };
}

interface Status {
  codes: Set<string>;
  headers: Set<ResponseHeader>;
  extensions: Record<string, object>;
}

/** A route's answers, merged: own, the kit's and every plugin's. */
export interface RouteDoc {
  statuses: Map<number, Status>;
  parameters: Set<RequestParameter>;
  security: boolean;
  optionalBody: boolean;
}

function statusOf(doc: RouteDoc, status: number): Status {
  let entry = doc.statuses.get(status);
  if (!entry) doc.statuses.set(status, (entry = { codes: new Set(), headers: new Set(), extensions: {} }));
  return entry;
}

function addProblem(doc: RouteDoc, status: number, answer: ProblemAnswer): void {
  const entry = statusOf(doc, status);
  for (const code of answer.codes) entry.codes.add(code);
  for (const header of answer.headers ?? []) entry.headers.add(header);
  Object.assign(entry.extensions, answer.extensions);
}

/** Merges a route's own answers with those of the kit and the plugins (`answersOf`). */
export function routeDoc(route: RouteOptions, answersOf: readonly AnswersOf[]): RouteDoc {
  const schema = route.schema ?? {};
  const doc: RouteDoc = { statuses: new Map(), parameters: new Set(), security: false, optionalBody: schema.optionalBody === true };
  // Without a response schema, @fastify/swagger documents a 200.
  for (const [status, responseSchema] of Object.entries((schema.response ?? { 200: {} }) as Record<string, object>)) {
    const entry = statusOf(doc, Number(status));
    const own = answersOfSchema.get(responseSchema);
    if (own) addProblem(doc, Number(status), own);
    for (const header of schema.responseHeaders?.[Number(status)] ?? []) entry.headers.add(header);
  }
  for (const p of schema.headerParameters ?? []) doc.parameters.add(p);
  const all = [kitAnswers(route), ...answersOf.map((of) => of(route))].filter((a): a is RouteAnswers => a !== undefined);
  for (const answers of all) {
    for (const [status, spec] of Object.entries(answers.problems ?? {})) addProblem(doc, Number(status), problemAnswer(spec));
    for (const p of answers.parameters ?? []) doc.parameters.add(p);
    if (answers.security === 'bearer') doc.security = true;
  }
  // Headers of every answer last, once every status is known.
  for (const answers of all) {
    for (const [status, entry] of doc.statuses) {
      if (BEFORE_ROUTING.has(status)) continue;
      for (const header of answers.headers ?? []) entry.headers.add(header);
      if (answers.headersOn?.on(status)) for (const header of answers.headersOn.headers) entry.headers.add(header);
    }
  }
  for (const entry of doc.statuses.values()) entry.headers.add('x-request-id');
  return doc;
}

type Json = Record<string, unknown>;
type Operation = Json & { responses?: Record<string, Json>; parameters?: Json[]; requestBody?: Json };

/** The key the route's merged answers travel under, from the route's transform to the document's. */
export const ROUTE_DOC_KEY = 'x-route-doc';

const headerOrder = Object.keys(HEADERS) as ResponseHeader[];

function problemContent(entry: Status): Json {
  const own: Json = { code: { type: 'string', enum: [...entry.codes].sort() }, ...entry.extensions };
  return {
    [PROBLEM_CONTENT_TYPE]: { schema: { allOf: [{ $ref: '#/components/schemas/Problem' }, { type: 'object', properties: own }] } },
  };
}

/**
 * Writes a route's merged answers into its operation: each status with its headers, problem
 * answers as `application/problem+json` with their codes, the shared parameters. Records the
 * components it uses in `used`.
 */
export function applyRouteDoc(operation: Operation, doc: RouteDoc, used: Used): void {
  const responses: Record<string, Json> = operation.responses ?? {};
  for (const [status, entry] of [...doc.statuses].sort(([a], [b]) => a - b)) {
    const key = String(status);
    const response: Json = { ...responses[key] };
    if (!response['description'] || response['description'] === 'Default Response') response['description'] = STATUS_CODES[status] ?? key;
    if (status >= 400) {
      response['content'] = problemContent(entry);
      used.problem = true;
    }
    const headers = headerOrder.filter((h) => entry.headers.has(h));
    response['headers'] = Object.fromEntries(headers.map((h) => [h, { $ref: `#/components/headers/${HEADERS[h].component}` }]));
    for (const h of headers) used.headers.add(h);
    responses[key] = response;
  }
  operation.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
  const shared = [...doc.parameters].map((p) => PARAMETERS[p]);
  const inline = (operation.parameters ?? []).filter(
    (p) => !shared.some((s) => s.in === p['in'] && s.name.toLowerCase() === String(p['name']).toLowerCase()),
  );
  const refs = [...doc.parameters].map((p) => ({ $ref: `#/components/parameters/${p}` }));
  for (const p of doc.parameters) used.parameters.add(p);
  if (inline.length + refs.length > 0) operation.parameters = [...inline, ...refs];
  if (operation.requestBody && doc.optionalBody) operation.requestBody = { ...operation.requestBody, required: false };
  operation['security'] = doc.security ? [{ bearerAuth: [] }] : [];
  used.bearer ||= doc.security;
}

export interface Used {
  problem: boolean;
  bearer: boolean;
  headers: Set<ResponseHeader>;
  parameters: Set<RequestParameter>;
}

/** The shared components the document's operations use, and only those (unused ones are a lint warning). */
export function components(used: Used): Json {
  const headers = headerOrder
    .filter((h) => used.headers.has(h))
    .map((h) => {
      const { component, description, schema } = HEADERS[h];
      return [component, { description, ...('required' in HEADERS[h] ? { required: true } : {}), schema }];
    });
  return {
    ...(used.problem ? { schemas: { Problem: JSON.parse(JSON.stringify(ProblemSchema)) as Json } } : {}),
    ...(headers.length > 0 ? { headers: Object.fromEntries(headers) } : {}),
    ...(used.parameters.size > 0 ? { parameters: Object.fromEntries([...used.parameters].sort().map((p) => [p, PARAMETERS[p]])) } : {}),
    ...(used.bearer ? { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } } : {}),
  };
}
