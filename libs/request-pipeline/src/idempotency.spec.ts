import { DependencyUnavailableError, HttpProblem, type App } from '@platform/service-kit';
import { TcpProxy, eventually, kitApp } from '@platform/testing';
import { Type } from '@sinclair/typebox';
import type { LightMyRequestResponse } from 'fastify';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRedisClient, type KeySpace, type RedisClient } from '@platform/redis';
import { closeAll, deadRedis, testKeys, testRedis } from '@platform/redis/testing';
import { idempotency, idempotencySignal } from './idempotency';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Handler runs by body `name`, across every app instance of the test. */
const runs = new Map<string, number>();
const ran = (name: string) => runs.get(name) ?? 0;
/** Side effects made by `guarded…` handlers, which check their record's signal first. */
const effects = new Map<string, number>();

/**
 * A service instance: the kit's defaults, a stand-in for the pipeline's token step (`x-user`
 * header -> request.auth), the idempotency plugin and a few routes whose behaviour the
 * body's `name` picks: `slow…` takes 300 ms, `long…` 2.5 s, `fail-once…` answers 500 the
 * first time, `declined…` a 402 problem, `checked…` a handler-side 400 VALIDATION_FAILED,
 * `busy…` a 409 with Retry-After, `guarded…` waits 1.5 s then checks its record before its side
 * effect, `unavailable-once…` answers 503 the first time after 300 ms.
 */
async function instance(client: RedisClient, keys: KeySpace, lockTtlSeconds = 5, maxHoldSeconds?: number): Promise<App> {
  const app = await kitApp('idempotency-test');
  app.addHook('onRequest', async (request) => {
    const user = request.headers['x-user'];
    if (typeof user === 'string') request.auth = { userId: user, sessionId: 's', tokenId: 't', expiresAt: 0, issuedAtMs: 0 };
  });
  await app.register(idempotency, { client, keys, lockTtlSeconds, maxHoldSeconds });
  const body = Type.Object({ name: Type.String({ minLength: 1 }), amount: Type.Optional(Type.Integer()) }, { additionalProperties: false });

  app.post('/v1/things', { schema: { body }, config: { idempotency: { required: true } } }, async (request, reply) => {
    const { name } = request.body;
    runs.set(name, ran(name) + 1);
    if (name.startsWith('slow')) await sleep(300);
    if (name.startsWith('long')) await sleep(2_500);
    if (name.startsWith('fail-once') && ran(name) === 1) throw new Error('the database went away');
    if (name.startsWith('declined')) throw new HttpProblem({ status: 402, code: 'PAYMENT_DECLINED', detail: 'Declined.' });
    if (name.startsWith('checked')) throw new HttpProblem({ status: 400, code: 'VALIDATION_FAILED', detail: 'Amount too high.' });
    if (name.startsWith('busy')) throw new HttpProblem({ status: 409, code: 'RESOURCE_BUSY', detail: 'Busy.', headers: { 'retry-after': '1' } });
    if (name.startsWith('guarded')) {
      await sleep(1_500);
      idempotencySignal(request).throwIfAborted();
      effects.set(name, (effects.get(name) ?? 0) + 1);
    }
    if (name.startsWith('unavailable-once') && ran(name) === 1) {
      await sleep(300);
      throw new DependencyUnavailableError('mysql');
    }
    const id = `${name}-${ran(name)}`;
    return reply.code(201).header('location', `/v1/things/${id}`).send({ id, name });
  });
  app.post('/v1/optional', { schema: { body }, config: { idempotency: { required: false } } }, async (request) => {
    runs.set(request.body.name, ran(request.body.name) + 1);
    return { ok: true };
  });
  app.post('/v1/plain', async () => ({ ok: true }));
  await app.ready();
  return app;
}

const post = (app: App, body: object, key?: string, opts: { url?: string; user?: string } = {}) =>
  app.inject({
    method: 'POST',
    url: opts.url ?? '/v1/things',
    headers: { ...(key === undefined ? {} : { 'idempotency-key': key }), ...(opts.user ? { 'x-user': opts.user } : {}) },
    payload: body,
  });

const code = (res: LightMyRequestResponse) => (res.json() as { code?: string }).code;

let clients: RedisClient[];
let apps: App[];
let app: App;
let keys: KeySpace;

beforeAll(async () => {
  keys = testKeys('idem-plugin');
  clients = await Promise.all([testRedis(), testRedis(), testRedis()]);
  apps = await Promise.all(clients.map((c) => instance(c, keys)));
  app = apps[0] as App;
});

afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await closeAll(...clients);
});

/** Instance i of the three (wrapping). */
const at = (i: number) => apps[i % apps.length] as App;

let n = 0;
/** A fresh key and body name per test, so tests never share records. */
function fresh(prefix = 'thing') {
  n += 1;
  return { key: `key-${n}-${Date.now()}`, name: `${prefix}-${n}` };
}

describe('idempotency plugin', () => {
  it('when the same key and body come again, then the first answer is replayed with Idempotent-Replayed and the handler ran once', async () => {
    const { key, name } = fresh();
    const first = await post(app, { name, amount: 5 }, key, { user: 'u1' });
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();

    // Another instance, keys in another order: the same request.
    const again = await at(1).inject({
      method: 'POST',
      url: '/v1/things',
      headers: { 'idempotency-key': key, 'x-user': 'u1', 'content-type': 'application/json' },
      payload: `{"amount":5,"name":"${name}"}`,
    });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['location']).toBe(first.headers['location']);
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
    expect(again.body).toBe(first.body);
    expect(again.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
    expect(ran(name)).toBe(1);
    expect((await at(1).metrics.getSingleMetric('idempotency_replays_total')?.get())?.values[0]?.value).toBeGreaterThanOrEqual(1);
  });

  it('when the same key comes with a different body, then 422 IDEMPOTENCY_KEY_REUSED and the handler does not run', async () => {
    const { key, name } = fresh();
    await post(app, { name }, key);
    const reused = await post(app, { name, amount: 9 }, key);
    expect(reused.statusCode).toBe(422);
    expect(code(reused)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(ran(name)).toBe(1);
  });

  it('when the same key comes while the first request runs, then 409 IDEMPOTENCY_REQUEST_IN_PROGRESS with Retry-After', async () => {
    const { key, name } = fresh('slow');
    const first = post(app, { name }, key);
    await eventually(async () => ran(name) === 1, 5_000, 5);
    const during = await post(at(2), { name }, key);
    expect(during.statusCode).toBe(409);
    expect(code(during)).toBe('IDEMPOTENCY_REQUEST_IN_PROGRESS');
    expect(Number(during.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await first).statusCode).toBe(201);
    expect((await post(app, { name }, key)).headers['idempotent-replayed']).toBe('true');
    expect(ran(name)).toBe(1);
  });

  it('when two users send the same key and body, then each gets its own answer', async () => {
    const { key, name } = fresh();
    const a = await post(app, { name }, key, { user: 'alice' });
    const b = await post(app, { name }, key, { user: 'bob' });
    expect([a.statusCode, b.statusCode]).toEqual([201, 201]);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(ran(name)).toBe(2);
  });

  it('when a required key is missing, then 400 IDEMPOTENCY_KEY_MISSING and the handler does not run', async () => {
    const { name } = fresh();
    const res = await post(app, { name });
    expect(res.statusCode).toBe(400);
    expect(code(res)).toBe('IDEMPOTENCY_KEY_MISSING');
    expect(ran(name)).toBe(0);
  });

  it.each([
    ['256 characters', 'k'.repeat(256)],
    ['a control character', 'abc\u0001def'],
    ['a tab', 'abc\tdef'],
    ['a space', 'abc def'],
    ['non-ASCII', 'clé'],
    ['an empty quoted string', '""'],
  ])('when the key has %s, then 400 VALIDATION_FAILED naming the header', async (_label, key) => {
    const { name } = fresh();
    const res = await post(app, { name }, key);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: 'headers/idempotency-key' }] });
    expect(ran(name)).toBe(0);
  });

  it('when the key is 255 visible characters or the draft\'s quoted form, then it is accepted; quoted and bare are one key', async () => {
    const { name } = fresh();
    expect((await post(app, { name }, '~'.repeat(255))).statusCode).toBe(201);
    const other = fresh();
    const bare = `${other.key}"x`;
    expect((await post(app, { name: other.name }, bare)).statusCode).toBe(201);
    const quoted = await post(app, { name: other.name }, `"${other.key}\\"x"`);
    expect(quoted.headers['idempotent-replayed']).toBe('true');
    expect(ran(other.name)).toBe(1);
  });

  it('when the handler answers 500, then nothing is kept and a retry runs again', async () => {
    const { key, name } = fresh('fail-once');
    expect((await post(app, { name }, key)).statusCode).toBe(500);
    const retry = await post(app, { name }, key);
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(ran(name)).toBe(2);
  });

  it('when schema validation rejects the body, then the key is not taken and a corrected request runs', async () => {
    const { key } = fresh();
    const invalid = await post(app, { name: '' }, key);
    expect(invalid.statusCode).toBe(400);
    expect(code(invalid)).toBe('VALIDATION_FAILED');
    expect((await post(app, { name: '' }, key)).headers['idempotent-replayed']).toBeUndefined();
    const { name } = fresh();
    expect((await post(app, { name }, key)).statusCode).toBe(201);
  });

  it('when the handler rejects the request as invalid, then nothing is kept and a retry runs again', async () => {
    const { key, name } = fresh('checked');
    expect(code(await post(app, { name }, key))).toBe('VALIDATION_FAILED');
    expect(code(await post(app, { name }, key))).toBe('VALIDATION_FAILED');
    expect(ran(name)).toBe(2);
  });

  it('when the answer carries Retry-After (a passing conflict), then it is not kept and a retry runs again', async () => {
    const { key, name } = fresh('busy');
    const first = await post(app, { name }, key);
    expect(first.statusCode).toBe(409);
    expect(first.headers['retry-after']).toBe('1');
    const again = await post(at(1), { name }, key);
    expect(again.statusCode).toBe(409);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(ran(name)).toBe(2);
  });

  it('when the handler throws a business 4xx, then that problem is kept and replayed', async () => {
    const { key, name } = fresh('declined');
    const first = await post(app, { name }, key);
    expect(first.statusCode).toBe(402);
    const again = await post(at(1), { name }, key);
    expect(again.statusCode).toBe(402);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['content-type']).toContain('application/problem+json');
    expect(again.body).toBe(first.body);
    expect(ran(name)).toBe(1);
  });

  it('when a key is optional and absent, then every request runs; when present, it is honoured', async () => {
    const { key, name } = fresh();
    await post(app, { name }, undefined, { url: '/v1/optional' });
    await post(app, { name }, undefined, { url: '/v1/optional' });
    expect(ran(name)).toBe(2);
    await post(app, { name }, key, { url: '/v1/optional' });
    expect((await post(app, { name }, key, { url: '/v1/optional' })).headers['idempotent-replayed']).toBe('true');
    expect(ran(name)).toBe(3);
  });

  it('when 1,000 requests share one key over 3 instances, then the handler runs exactly once', async () => {
    const { key, name } = fresh('slow-bulk');
    const answers = await Promise.all(Array.from({ length: 1_000 }, (_, i) => post(at(i % 3), { name }, key)));
    expect(ran(name)).toBe(1);
    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((s) => s === 201).length + statuses.filter((s) => s === 409).length).toBe(1_000);
    expect(answers.filter((a) => a.statusCode === 201 && a.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
  });
});

describe('idempotency plugin with a lock TTL shorter than the handler', () => {
  const shortKeys = testKeys('idem-heartbeat');
  let short: App[];
  const record = (key: string) => shortKeys.idempotency('anonymous:POST:/v1/things', key);

  beforeAll(async () => {
    short = await Promise.all(clients.slice(0, 2).map((c) => instance(c, shortKeys, 1)));
  });

  afterAll(() => Promise.all(short.map((a) => a.close())));

  it('when the handler runs 2.5 s under a 1 s lock, then retries meanwhile get 409, the handler runs once and the retry then replays', async () => {
    const [a, b] = short as [App, App];
    const { key, name } = fresh('long');
    const first = post(a, { name }, key);
    await eventually(async () => ran(name) === 1, 5_000, 5);
    const started = Date.now();
    for (const at of [1_200, 2_000]) {
      await sleep(at - (Date.now() - started));
      const during = await post(b, { name }, key);
      expect(during.statusCode).toBe(409);
      expect(code(during)).toBe('IDEMPOTENCY_REQUEST_IN_PROGRESS');
      expect(Number(during.headers['retry-after'])).toBe(1);
    }
    const done = await first;
    expect(done.statusCode).toBe(201);
    const again = await post(b, { name }, key);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(done.body);
    expect(ran(name)).toBe(1);
    // Stored for the retention, and no heartbeat shortens it again.
    await sleep(500);
    expect(await clients[2]?.pttl(record(key))).toBeGreaterThan(86_000_000);
  });

  it('when the client goes away mid-request, then the key stays held until the handler answers, and the retry replays it', async () => {
    const [a, b] = short as [App, App];
    const { key, name } = fresh('long');
    await a.listen({ host: '127.0.0.1', port: 0 });
    const { port } = a.server.address() as AddressInfo;
    const sent = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/things', headers: { 'content-type': 'application/json', 'idempotency-key': key } });
    sent.on('error', () => undefined);
    sent.end(JSON.stringify({ name }));
    await eventually(async () => ran(name) === 1, 5_000, 5);
    sent.destroy();
    // Past the 1 s lock TTL the client's retry still finds the request in progress.
    await sleep(1_500);
    expect((await post(b, { name }, key)).statusCode).toBe(409);
    // Once the handler has answered, the retry gets that answer; the work ran once.
    await eventually(async () => (await post(b, { name }, key)).headers['idempotent-replayed'] === 'true', 5_000, 100);
    expect(ran(name)).toBe(1);
  });

  it('when a request holds its key past maxHoldSeconds, then the heartbeat stops and the key frees itself', async () => {
    const capped = await instance(clients[2] as RedisClient, shortKeys, 1, 1);
    try {
      const { key, name } = fresh('long');
      const first = post(capped, { name }, key);
      await eventually(async () => ran(name) === 1, 5_000, 5);
      // 1 s of hold, then at most one 1 s TTL: free before the 2.5 s handler is done.
      expect(await eventually(async () => (await clients[2]?.exists(record(key))) === 0, 2_300, 50)).toBe(true);
      await first;
    } finally {
      await capped.close();
    }
  });

  it('when the app closes mid-request, then its heartbeats stop and the key frees itself within one TTL', async () => {
    const closing = await instance(clients[2] as RedisClient, shortKeys, 1);
    const { key, name } = fresh('long');
    const first = post(closing, { name }, key);
    await eventually(async () => ran(name) === 1, 5_000, 5);
    await closing.close();
    await eventually(async () => (await clients[2]?.exists(record(key))) === 0, 1_500, 50);
    expect(await clients[2]?.exists(record(key))).toBe(0);
    await first;
  });
});

// A proxy stands between one instance and a standalone Redis; a cluster has no single address to proxy.
(process.env['REDIS_CLUSTER_NODES'] ? describe.skip : describe)('idempotency plugin when Redis goes silent mid-request', () => {
  const silentKeys = testKeys('idem-silent');
  let proxy: TcpProxy;
  let client: RedisClient;
  let observer: RedisClient;

  beforeAll(async () => {
    const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
    proxy = await TcpProxy.forUrl(url).start();
    client = createRedisClient({ url: proxy.rewrite(url), commandTimeoutMs: 200 });
    client.on('error', () => undefined);
    observer = await testRedis();
  });

  afterEach(() => proxy.thaw());

  afterAll(async () => {
    client.disconnect();
    await observer.quit();
    await proxy.stop();
  });

  it('when the record cannot be extended past its TTL, then the handler stops before its side effect and answers 503, and the retry runs it', async () => {
    const app1 = await instance(client, silentKeys, 1);
    try {
      const { key, name } = fresh('guarded');
      const first = post(app1, { name }, key);
      await eventually(async () => ran(name) === 1, 5_000, 5);
      proxy.freeze();
      const answer = await first;
      expect(answer.statusCode).toBe(503);
      expect(code(answer)).toBe('DEPENDENCY_UNAVAILABLE');
      expect(answer.headers['retry-after']).toBeDefined();
      expect(effects.get(name)).toBeUndefined();

      proxy.thaw({ stuck: true });
      expect(await eventually(async () => (await post(app1, { name }, key)).statusCode === 201, 5_000, 100)).toBe(true);
      expect(effects.get(name)).toBe(1);
    } finally {
      await app1.close();
    }
  });

  it('when a request answers 503 while Redis is silent, then its key is freed as soon as Redis answers again, and the retry runs at once instead of getting 409', async () => {
    // A 10 s lock: without the freeing, the retry would get 409 for up to 10 s.
    const app1 = await instance(client, silentKeys, 10);
    try {
      const { key, name } = fresh('unavailable-once');
      const first = post(app1, { name }, key);
      await eventually(async () => ran(name) === 1, 5_000, 5);
      proxy.freeze();
      expect((await first).statusCode).toBe(503);
      expect(await observer.exists(silentKeys.idempotency('anonymous:POST:/v1/things', key))).toBe(1);

      proxy.thaw({ stuck: true });
      const healed = Date.now();
      // The client reconnects (its silent socket is replaced) and the freeing is retried every
      // 200 ms: a retry meanwhile may still get 503 or 409, and runs within a second and a half.
      const seen = new Set<number>();
      await eventually(async () => seen.add((await post(app1, { name }, key)).statusCode).has(201), 5_000, 50);
      expect(seen.has(201)).toBe(true);
      expect(Date.now() - healed).toBeLessThan(1_500);
      expect(ran(name)).toBe(2);
    } finally {
      await app1.close();
    }
  });
});

describe('idempotency plugin with Redis down', () => {
  let dead: RedisClient;
  let down: App;

  beforeAll(async () => {
    dead = deadRedis();
    down = await instance(dead, testKeys('idem-down'));
    // The first request of an app compiles its schemas and serializers; that is not Redis's cost.
    await post(down, { name: 'warm-up' }, undefined, { url: '/v1/optional' });
  });

  afterAll(async () => {
    await down.close();
    dead.disconnect();
  });

  it('when a request carries a key, then it fails closed with 503 DEPENDENCY_UNAVAILABLE within 100 ms and does not run', async () => {
    const { key, name } = fresh();
    const started = Date.now();
    const res = await post(down, { name }, key);
    expect(Date.now() - started).toBeLessThan(100);
    expect(res.statusCode).toBe(503);
    expect(code(res)).toBe('DEPENDENCY_UNAVAILABLE');
    expect(res.headers['retry-after']).toBeDefined();
    expect(ran(name)).toBe(0);
  });

  it('when a request needs no key, then Redis is not asked and it runs', async () => {
    const { name } = fresh();
    expect((await post(down, { name }, undefined, { url: '/v1/optional' })).statusCode).toBe(200);
    expect((await post(down, {}, undefined, { url: '/v1/plain' })).statusCode).toBe(200);
  });
});
