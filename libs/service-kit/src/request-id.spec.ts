import type { IncomingMessage } from 'node:http';
import { Type } from '@sinclair/typebox';
import { buildTestApp, captureLogs, UUID_V7, type LogLine } from '../test/test-app';
import { HttpProblem } from './problem';
import { genReqId } from './request-id';
import type { App } from './server';

const withHeader = (value: string | string[] | undefined) =>
  ({ headers: value === undefined ? {} : { 'x-request-id': value } }) as unknown as IncomingMessage;

describe('genReqId', () => {
  it.each([
    ['a short word', 'abc'],
    ['every allowed punctuation mark', 'A.b_c:d-e'],
    ["another service's UUID", '0190f0d2-7c5e-7a1b-8c3d-123456789abc'],
    ['one of exactly 128 characters', 'x'.repeat(128)],
  ])('when the caller sends %s, then it is kept', (_what, id) => {
    expect(genReqId(withHeader(id))).toBe(id);
  });

  it.each([
    ['no header', undefined],
    ['an empty one', ''],
    ['one with spaces', 'has spaces'],
    ['one of 129 characters', 'x'.repeat(129)],
    ['one with a slash', 'a/b'],
    ['one with quotes and braces', '"}{"level":"fatal"'],
    ['one with non-ASCII letters', 'ünïcödé'],
    ['the header twice', ['one', 'two']],
  ])('when the caller sends %s, then a new UUIDv7 is made', (_what, value) => {
    expect(genReqId(withHeader(value))).toMatch(UUID_V7);
  });

  it('when many ids are made, then each one is new and a UUIDv7', () => {
    const made = Array.from({ length: 600 }, () => genReqId(withHeader(undefined)));
    expect(new Set(made).size).toBe(600);
    for (const id of made) expect(id).toMatch(UUID_V7);
  });
});

describe('request ids in answers and logs', () => {
  const logs = captureLogs();
  let app: App;

  beforeAll(async () => {
    app = await buildTestApp({
      logStream: logs.stream,
      routes: (a) => {
        a.post('/work', { schema: { body: Type.Object({ n: Type.Integer() }, { additionalProperties: false }) } }, async (request) => {
          request.log.info({ n: request.body.n }, 'working');
          request.log.child({ step: 'inner' }).warn('a child logger line');
          return { ok: true };
        });
        a.get('/fail', async (request) => {
          request.log.info('about to fail');
          throw new Error('database exploded');
        });
        a.get('/refuse', async () => {
          throw new HttpProblem({ status: 409, code: 'CONFLICT', detail: 'No.' });
        });
        a.get('/things/:id', async (request) => ({ id: (request.params as { id: string }).id }));
      },
    });
  });
  afterAll(() => app.close());
  beforeEach(() => {
    logs.lines.length = 0;
  });

  it('when a safe x-request-id is sent, then it is echoed', async () => {
    const res = await app.inject({ method: 'POST', url: '/work', payload: { n: 1 }, headers: { 'x-request-id': 'client-abc.1:2' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-request-id']).toBe('client-abc.1:2');
  });

  it.each([
    ['one with spaces', 'not safe'],
    ['one of 129 characters', 'x'.repeat(129)],
    ['an empty one', ''],
  ])('when %s is sent, then a UUIDv7 replaces it in the header and the error body', async (_what, id) => {
    const res = await app.inject({ method: 'GET', url: '/refuse', headers: { 'x-request-id': id } });
    expect(res.headers['x-request-id']).toMatch(UUID_V7);
    expect(res.headers['x-request-id']).not.toBe(id);
    expect(res.json().requestId).toBe(res.headers['x-request-id']);
  });

  it('when none is sent, then each answer gets its own id', async () => {
    const [a, b] = await Promise.all([
      app.inject({ method: 'GET', url: '/health/live' }),
      app.inject({ method: 'GET', url: '/health/live' }),
    ]);
    expect(a.headers['x-request-id']).toMatch(UUID_V7);
    expect(b.headers['x-request-id']).toMatch(UUID_V7);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  it.each([
    ['a success', { method: 'POST', url: '/work', payload: { n: 1 } }],
    ['a validation failure', { method: 'POST', url: '/work', payload: { n: 'one' } }],
    ['a handled error', { method: 'GET', url: '/refuse' }],
    ['a crash', { method: 'GET', url: '/fail' }],
    ['an unknown route', { method: 'GET', url: '/nowhere' }],
    ['an undecodable URL', { method: 'GET', url: '/things/%E0%A4%A' }],
  ] as const)('when the request is %s, then every log line of it carries its requestId', async (_what, req) => {
    const res = await app.inject({ ...req, headers: { 'x-request-id': 'trace-me' } });
    expect(res.headers['x-request-id']).toBe('trace-me');
    expect(logs.lines.length).toBeGreaterThan(0);
    for (const line of logs.lines) expect(line.requestId).toBe('trace-me');
  });

  it('when a request logs through request.log and a child of it, then those lines carry its requestId too', async () => {
    await app.inject({ method: 'POST', url: '/work', payload: { n: 7 }, headers: { 'x-request-id': 'trace-work' } });
    const messages = logs.lines.map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['incoming request', 'working', 'a child logger line', 'request completed']));
    for (const line of logs.lines) expect(line).toMatchObject({ requestId: 'trace-work', service: 'kit-test' });
  });

  it('when a request completes, then its completion line names the method, URL, status and time', async () => {
    await app.inject({ method: 'POST', url: '/work', payload: { n: 7 }, headers: { 'x-request-id': 'trace-done' } });
    const done = logs.lines.find((l) => l.msg === 'request completed');
    expect(done).toMatchObject({ requestId: 'trace-done', req: { method: 'POST', url: '/work' }, res: { statusCode: 200 } });
    expect(done?.['responseTime']).toEqual(expect.any(Number));
  });

  it('when requests overlap, then each line carries the id of its own request', async () => {
    await Promise.all(
      ['par-1', 'par-2', 'par-3'].map((id, n) =>
        app.inject({ method: 'POST', url: '/work', payload: { n }, headers: { 'x-request-id': id } }),
      ),
    );
    const working = logs.lines.filter((l) => l.msg === 'working');
    expect(working.map((l) => [l.requestId, l['n']]).sort()).toEqual([
      ['par-1', 0],
      ['par-2', 1],
      ['par-3', 2],
    ]);
  });

  it('when a route fails unexpectedly, then the internals are logged with the requestId while the client sees none', async () => {
    const res = await app.inject({ method: 'GET', url: '/fail', headers: { 'x-request-id': 'trace-fail' } });
    expect(res.body).not.toContain('database exploded');
    const failed = logs.lines.find((l) => l.msg === 'request failed') as LogLine & { err?: { message?: string; stack?: string } };
    expect(failed).toMatchObject({ level: 'error', requestId: 'trace-fail' });
    expect(failed.err?.message).toBe('database exploded');
    expect(failed.err?.stack).toEqual(expect.any(String));
  });

  it('when probes and scrapes arrive, then they write no request lines', async () => {
    await app.inject({ method: 'GET', url: '/health/live' });
    await app.inject({ method: 'GET', url: '/health/ready' });
    await app.inject({ method: 'GET', url: '/metrics' });
    expect(logs.lines).toEqual([]);
  });
});
