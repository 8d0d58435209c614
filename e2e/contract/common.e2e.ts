import { randomUUID } from 'node:crypto';
import { Client, ITEMS, type Answer, type RequestOptions, type Target } from '../src/client';
import { topologyFromEnv, type ServiceName } from '../src/platform';

/**
 * CONTRACT.md, "Processes and ports" and "Common rules": what every process answers outside
 * its own table (health, metrics, docs) and how every one of them treats bodies, errors,
 * types and request ids, over HTTP on every instance.
 */
const topology = topologyFromEnv();
const BODY_LIMIT = 64 * 1024;
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const SERVICES: ServiceName[] = ['user', 'order', 'payment'];
const TARGETS: Target[] = [...SERVICES, 'sandbox'];

/** Every process: each instance of the three services, and the sandbox. */
const PROCESSES = TARGETS.flatMap((target) =>
  (target === 'sandbox' ? [topology.sandbox] : topology[target]).map((_, instance, all) => ({
    label: all.length > 1 ? `${target}#${instance + 1}` : target,
    target,
    instance,
  })),
);

/** The contract's routes of each process, as OpenAPI writes them. */
const ROUTES: Record<Target, Record<string, string[]>> = {
  user: {
    '/v1/auth/register': ['post'],
    '/v1/auth/login': ['post'],
    '/v1/auth/refresh': ['post'],
    '/v1/auth/logout': ['post'],
    '/v1/auth/logout-all': ['post'],
    '/v1/users/me': ['get', 'patch'],
    '/v1/users/me/password': ['post'],
    '/.well-known/jwks.json': ['get'],
  },
  order: { '/v1/orders': ['get', 'post'], '/v1/orders/{id}': ['get'], '/v1/orders/{id}/cancel': ['post'], '/v1/orders/{id}/events': ['get'] },
  payment: { '/v1/payments': ['get', 'post'], '/v1/payments/{id}': ['get'], '/v1/payments/{id}/refunds': ['post'] },
  sandbox: { '/v1/charges': ['get', 'post'], '/v1/refunds': ['post'] },
};

/** What the metrics of each process must cover (CONTRACT.md, /metrics), by family name. */
const METRIC_FAMILIES: Record<Target, RegExp[]> = {
  user: [/rate_limit.*reject/, /cache/],
  order: [/rate_limit.*reject/, /cache/, /idempotency.*replay/, /lag/],
  payment: [/rate_limit.*reject/, /idempotency.*replay/, /lag/],
  sandbox: [],
};

/** A token for the routes that need one, from an account of this file's own. */
let token: string;
beforeAll(async () => {
  token = (await new Client(topology).signUp()).accessToken;
});

/**
 * One write route per process whose body is JSON, with a valid body, what a valid body is
 * answered with, a property its schema does not declare, and a number field (or, in
 * user-service, which has none, a string field) to send in the wrong type.
 */
interface Probe {
  path: () => string;
  opts: () => RequestOptions;
  valid: () => Record<string, unknown>;
  accepted: number;
  undeclared: [string, unknown];
  mistyped: { body: () => Record<string, unknown>; path: string };
}

const keyed = () => ({ token, headers: { 'idempotency-key': randomUUID() } });
const PROBES: Record<Target, Probe> = {
  user: {
    path: () => '/v1/auth/register',
    opts: () => ({}),
    valid: () => ({ email: `e2e-${randomUUID()}@example.test`, password: 'correct horse battery', name: 'Ada' }),
    accepted: 201,
    undeclared: ['isAdmin', true],
    mistyped: { body: () => ({ email: `e2e-${randomUUID()}@example.test`, password: 'correct horse battery', name: 100 }), path: 'body/name' },
  },
  order: {
    path: () => '/v1/orders',
    opts: () => ({ token }),
    valid: () => ({ currency: 'EUR', items: ITEMS }),
    accepted: 201,
    undeclared: ['status', 'PAID'],
    mistyped: { body: () => ({ currency: 'EUR', items: [{ ...ITEMS[0], unitPrice: '100' }] }), path: 'body/items/0/unitPrice' },
  },
  payment: {
    // An unknown payment: a body that passes is answered 404, after it was read and checked.
    path: () => `/v1/payments/${randomUUID()}/refunds`,
    opts: keyed,
    valid: () => ({ amount: 100 }),
    accepted: 404,
    undeclared: ['currency', 'EUR'],
    mistyped: { body: () => ({ amount: '100' }), path: 'body/amount' },
  },
  sandbox: {
    path: () => '/v1/charges',
    opts: () => ({ headers: { 'idempotency-key': randomUUID() } }),
    valid: () => ({ amount: 1_999, currency: 'EUR', token: 'tok_visa', orderId: randomUUID() }),
    accepted: 201,
    undeclared: ['status', 'succeeded'],
    mistyped: { body: () => ({ amount: '100', currency: 'EUR', token: 'tok_visa', orderId: randomUUID() }), path: 'body/amount' },
  },
};

const post = (client: Client, target: Target, opts: RequestOptions) => {
  const probe = PROBES[target];
  const base = probe.opts();
  return client.request(target, 'POST', probe.path(), { ...base, ...opts, headers: { ...base.headers, ...opts.headers } });
};

/** JSON padded with white space (which JSON allows) to exactly `bytes` bytes. */
function padded(body: Record<string, unknown>, bytes: number): string {
  const json = JSON.stringify(body);
  return `${json}${' '.repeat(bytes - Buffer.byteLength(json))}`;
}

/** Anything that tells an outsider how the service is built. */
const LEAKS = /\n\s+at |node_modules|\.[jt]s:\d|\bSELECT\b|\bINSERT\b|\bUPDATE\b|sqlMessage|\bER_[A-Z_]+|QueryFailed|typeorm|mysql|ioredis|127\.0\.0\.1|localhost|\/work\//i;

function expectProblem(res: Answer, status: number, code: string): void {
  expect([res.status, res.body?.code]).toEqual([status, code]);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(Object.keys(res.body).filter((k) => k !== 'errors').sort()).toEqual(['code', 'detail', 'requestId', 'status', 'title', 'type']);
  expect(res.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String), requestId: res.headers.get('x-request-id') });
  expect(res.body.code).toMatch(/^[A-Z][A-Z0-9_]*$/);
  expect(res.text).not.toMatch(LEAKS);
}

const paths = (res: Answer): string[] => (res.body?.errors ?? []).map((e: { path: string }) => e.path);

describe.each(PROCESSES)('$label', ({ target, instance }) => {
  const client = new Client(topology);
  const get = (path: string) => client.request(target, 'GET', path, { instance });

  it('when asked /health/live and /health/ready, then 200 {status: "ok"} for both', async () => {
    const [live, ready] = await Promise.all([get('/health/live'), get('/health/ready')]);
    expect([live.status, live.body]).toEqual([200, { status: 'ok' }]);
    expect([ready.status, ready.body?.status]).toEqual([200, 'ok']);
  });

  it('when asked /metrics, then Prometheus text with request durations by route and status and the families its work needs', async () => {
    expect((await get('/health/live')).status).toBe(200);
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const lines = res.text.split('\n').filter((l) => l !== '');
    const samples = lines.filter((l) => !l.startsWith('#'));
    const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.]+(e[+-]?\d+)?|NaN|[+-]Inf)( -?\d+)?$/;
    expect(samples.filter((l) => !sample.test(l))).toEqual([]);
    const types = new Map(lines.filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ').slice(2, 4) as [string, string]));
    const histograms = [...types].filter(([, type]) => type === 'histogram').map(([name]) => name);
    // The probe just made is counted under its route pattern and its status.
    const counted = samples.filter((l) => histograms.some((h) => l.startsWith(`${h}_count{`)) && l.includes('"/health/live"') && l.includes('"200"'));
    expect(counted).toHaveLength(1);
    for (const family of METRIC_FAMILIES[target]) expect([...types.keys()].filter((name) => family.test(name))).not.toEqual([]);
  });

  it('when asked /docs/json, then an OpenAPI 3 document listing its contract routes, generated from the schemas that validate them', async () => {
    const res = await get('/docs/json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toMatch(/^3\.\d+\.\d+$/);
    const documented = Object.fromEntries(
      Object.entries(res.body.paths as Record<string, object>).map(([path, ops]) => [path, Object.keys(ops).filter((k) => k !== 'parameters').sort()]),
    );
    expect(documented).toMatchObject({ '/health/live': ['get'], '/health/ready': ['get'], ...ROUTES[target] });
    // The three services document exactly their table (the sandbox has more than the contract names).
    if (target !== 'sandbox') expect(Object.keys(documented).filter((p) => p.startsWith('/v1/') || p.startsWith('/.well-known/')).sort()).toEqual(Object.keys(ROUTES[target]).sort());
    const probe = PROBES[target];
    const bodyPath = probe.path().replace(/[0-9a-f]{8}-[0-9a-f-]{27}/, '{id}');
    const schema = res.body.paths[bodyPath].post.requestBody.content['application/json'].schema;
    expect(Object.keys(schema.properties).sort()).toEqual(expect.arrayContaining(Object.keys(probe.valid())));
    expect(schema.properties[probe.undeclared[0]]).toBeUndefined();
    expect(schema.additionalProperties).toBe(false);
  });
});

describe.each(TARGETS)('%s', (target) => {
  const client = new Client(topology);

  it('when the request headers are larger than the server takes, then 431 problem+json with a request id like every other error', async () => {
    const res = await client.request(target, 'GET', '/health/live', { headers: { 'x-pad': 'a'.repeat(20_000) } });
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('x-request-id')).toMatch(SAFE_ID);
    expect(res.body).toEqual({
      type: expect.any(String),
      title: expect.any(String),
      status: 431,
      detail: expect.any(String),
      code: 'HEADERS_TOO_LARGE',
      requestId: res.headers.get('x-request-id'),
    });
  });

  it('when a body is exactly 64 KiB, then it is read; one byte more, then 413 problem+json', async () => {
    const probe = PROBES[target];
    const atLimit = await post(client, target, { raw: padded(probe.valid(), BODY_LIMIT) });
    expect(atLimit.status).toBe(probe.accepted);
    expectProblem(await post(client, target, { raw: padded(probe.valid(), BODY_LIMIT + 1) }), 413, 'PAYLOAD_TOO_LARGE');
  });

  it.each([
    ['a cut-off object', '{"amount": 1, "name":'],
    ['a trailing comma', '{"amount": 1,}'],
    ['single quotes', "{'amount': 1}"],
    ['a bare word', 'hello'],
  ])('when the JSON is malformed (%s), then 400 MALFORMED_JSON', async (_case, raw) => {
    expectProblem(await post(client, target, { raw }), 400, 'MALFORMED_JSON');
  });

  it('when the body has a property its schema does not declare, then 400 VALIDATION_FAILED naming it, with errors of path and message', async () => {
    const probe = PROBES[target];
    const [name, value] = probe.undeclared;
    const res = await post(client, target, { body: { ...probe.valid(), [name]: value } });
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(res.body.errors).toContainEqual({ path: `body/${name}`, message: expect.any(String) });
    for (const e of res.body.errors) expect(Object.keys(e).sort()).toEqual(['message', 'path']);
  });

  it('when a field comes in the wrong JSON type ("100" for a number, 100 for a string), then 400: nothing is coerced', async () => {
    const probe = PROBES[target];
    const res = await post(client, target, { body: probe.mistyped.body() });
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(paths(res)).toContain(probe.mistyped.path);
  });

  it.each([['/v1/no-such-route'], ['/no-such-route'], ['/v1']])('when %s is asked for, then 404 NOT_FOUND problem+json', async (path) => {
    const res = await client.request(target, 'GET', path, target === 'sandbox' ? {} : { token });
    expectProblem(res, 404, 'NOT_FOUND');
  });

  it.each([
    ['a short one', 'abc'],
    ['every allowed character', 'AZaz09._:-'],
    ['128 characters', 'r'.repeat(128)],
  ])('when the caller sends a valid x-request-id (%s), then every answer, success or error, carries it and an error body names it', async (_case, id) => {
    const headers = { 'x-request-id': id };
    const ok = await client.request(target, 'GET', '/health/live', { headers });
    const error = await post(client, target, { raw: '{', headers });
    expect([ok.headers.get('x-request-id'), error.headers.get('x-request-id'), error.body?.requestId]).toEqual([id, id, id]);
  });

  it.each([
    ['129 characters', 'r'.repeat(129)],
    ['a space', 'two words'],
    ['a semicolon', 'id;drop'],
    ['a slash', '../etc/passwd'],
    ['a line-break look-alike', 'id%0d%0aSet-Cookie:x'],
    ['a non-ASCII letter', 'caf\u00e9'],
  ])('when the caller sends an unsafe x-request-id (%s), then a new one is made, in the header and in the error body alike', async (_case, id) => {
    const error = await post(client, target, { raw: '{', headers: { 'x-request-id': id } });
    const made = error.headers.get('x-request-id');
    expect(made).not.toBe(id);
    expect(made).toMatch(SAFE_ID);
    expect(error.body?.requestId).toBe(made);
  });

  it('when no x-request-id is sent, then each answer gets a new one of its own', async () => {
    const answers = await Promise.all([1, 2, 3].map(() => client.request(target, 'GET', '/health/live')));
    const ids = answers.map((a) => a.headers.get('x-request-id'));
    for (const id of ids) expect(id).toMatch(SAFE_ID);
    expect(new Set(ids).size).toBe(3);
  });

  it('when requests are odd (bad encoding, injection-looking ids, deep or huge JSON, text/plain), then the answer is a 4xx problem+json with no stack, SQL or host in it', async () => {
    const odd: [string, string, RequestOptions][] = [
      ['GET', `/v1/${target === 'sandbox' ? 'charges' : `${target}s`}/%E0%A4%A`, {}],
      ['GET', `/v1/${target === 'sandbox' ? 'charges' : `${target}s`}/'%20OR%201=1--`, {}],
      ['POST', PROBES[target].path(), { raw: `${'['.repeat(5_000)}${']'.repeat(5_000)}` }],
      ['POST', PROBES[target].path(), { raw: '{"amount": 1e999999}' }],
      ['POST', PROBES[target].path(), { raw: '{"__proto__": {"admin": true}}' }],
      ['POST', PROBES[target].path(), { raw: 'amount=1', headers: { 'content-type': 'text/plain' } }],
    ];
    for (const [method, path, opts] of odd) {
      const base = target === 'user' || target === 'sandbox' ? PROBES[target].opts() : keyed();
      const res = await client.request(target, method, path, { ...base, ...opts, headers: { ...base.headers, ...opts.headers } });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expectProblem(res, res.status, res.body?.code);
    }
  });
});

describe.each(SERVICES)('%s rate-limit fields', (service) => {
  it('when a /v1 route answers, success or error, then it carries RateLimit-Policy and RateLimit', async () => {
    const client = new Client(topology);
    const read = { user: '/v1/users/me', order: '/v1/orders', payment: `/v1/payments?orderId=${randomUUID()}` }[service];
    const answers = await Promise.all([
      client.request(service, 'GET', read, { token }),
      client.request(service, 'GET', '/v1/no-such-route', { token }),
      post(client, service, { raw: '{' }),
      post(client, service, { body: Object.fromEntries([PROBES[service].undeclared]) }),
      client.request(service, 'GET', read, { token: 'not.a.jwt' }),
    ]);
    for (const res of answers) {
      expect(res.headers.get('ratelimit-policy')).toMatch(/^"[A-Za-z0-9_-]+";q=\d+;w=\d+$/);
      expect(res.headers.get('ratelimit')).toMatch(/^"[A-Za-z0-9_-]+";r=\d+;t=\d+$/);
    }
    expect(answers.map((a) => a.status)).toEqual([200, 404, 400, 400, 401]);
  });
});
