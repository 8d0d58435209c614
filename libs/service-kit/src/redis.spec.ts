import { randomUUID } from 'node:crypto';
import { buildTestApp } from '../test/test-app';
import { TcpProxy } from '../test/tcp-proxy';
import { redis } from './redis';
import { redisFailure } from './redis-failure';
import type { App } from './server';

const testKeyPrefix = (label: string) => `t:${label}:${randomUUID()}:`;

async function readiness(app: App): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await app.inject({ method: 'GET', url: '/health/ready' });
  return { status: res.statusCode, body: res.json() };
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    if (await check()) return true;
  }
  return false;
}

let proxy: TcpProxy;
let app: App;

const ready = () => readiness(app);

beforeAll(async () => {
  proxy = await TcpProxy.forUrl(process.env['REDIS_URL'] as string).start();
  const url = proxy.rewrite(process.env['REDIS_URL'] as string);
  app = await buildTestApp({ service: 'redis-test', routes: (server) => void server.register(redis, { url, commandTimeoutMs: 300, keyPrefix: testKeyPrefix('plugin') }) });
});

afterAll(async () => {
  await app.close();
  await proxy.stop();
});

describe('redis plugin', () => {
  it('when Redis answers, then ready is 200 and the client works', async () => {
    expect(await ready()).toMatchObject({ status: 200, body: { checks: { redis: 'ok' } } });
    const key = `${app.redisKeyPrefix}probe`;
    await app.redis.set(key, 'v', 'EX', 10);
    expect(await app.redis.get(key)).toBe('v');
  });

  it('when Redis stops, then ready is 503 naming redis at once; when it returns, 200 without a restart', async () => {
    await proxy.stop();
    const started = Date.now();
    const down = await ready();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', checks: { redis: 'fail' }, failures: { redis: 'not answering' } });
    expect(down.body['detail']).toBe('Not ready: redis (not answering).');
    expect(Date.now() - started).toBeLessThan(1_500);

    await proxy.start();
    expect(await eventually(async () => (await ready()).status === 200, 10_000)).toBe(true);
  });

  it('when Redis goes silent (no reset, no answer), then commands and ready fail within the timeout, and once it answers again the dead socket is replaced and ready is 200 within a second', async () => {
    expect((await ready()).status).toBe(200);
    proxy.freeze();
    const started = Date.now();
    await expect(app.redis.get(`${app.redisKeyPrefix}probe`)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1_000);
    const down = await ready();
    expect(down).toMatchObject({ status: 503, body: { checks: { redis: 'fail' } } });

    // The socket open during the silence stays dead after it, as after a long partition: only a new one works.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    proxy.thaw({ stuck: true });
    const healed = Date.now();
    expect(await eventually(async () => (await ready()).status === 200, 5_000)).toBe(true);
    expect(Date.now() - healed).toBeLessThan(1_500);
  });

  it('when a command times out on a silent socket, then it is not sent again on the next connection', async () => {
    expect((await ready()).status).toBe(200);
    const key = `${app.redisKeyPrefix}late-write`;
    proxy.freeze();
    await expect(app.redis.set(key, 'late', 'EX', 60)).rejects.toThrow();
    proxy.thaw({ stuck: true });
    expect(await eventually(async () => (await ready()).status === 200, 5_000)).toBe(true);
    // A late SET would have landed right after the reconnect.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await app.redis.exists(key)).toBe(0);
  });

  it('when Redis refuses the credentials, then ready says so, without them', async () => {
    const url = new URL(proxy.rewrite(process.env['REDIS_URL'] as string));
    Object.assign(url, { username: 'nobody-here', password: 's3cret-pw' });
    const options = { url: url.toString(), commandTimeoutMs: 300, keyPrefix: testKeyPrefix('plugin'), startupWaitMs: 300 };
    const server = await buildTestApp({ service: 'redis-auth-test', routes: (kit) => void kit.register(redis, options) });
    try {
      const down = await readiness(server);
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ failures: { redis: 'refused credentials' } });
      expect(JSON.stringify(down.body)).not.toMatch(/s3cret|nobody-here/);
    } finally {
      await server.close();
    }
  });
});

describe('redisFailure', () => {
  it.each([
    { label: 'a refused connection', err: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6379'), { code: 'ECONNREFUSED' }), kind: 'not answering' },
    { label: 'a command while disconnected', err: new Error("Stream isn't writeable and enableOfflineQueue options is false"), kind: 'not answering' },
    { label: 'a command timeout', err: new Error('Command timed out'), kind: 'timeout' },
    { label: 'WRONGPASS', err: new Error('WRONGPASS invalid username-password pair or user is disabled.'), kind: 'refused credentials' },
    { label: 'NOAUTH', err: new Error('NOAUTH Authentication required.'), kind: 'refused credentials' },
    { label: 'a password where none is set', err: new Error('ERR AUTH <password> called without any password configured for the default user.'), kind: 'refused credentials' },
    { label: 'a database out of range', err: new Error('ERR DB index is out of range'), kind: 'unknown schema' },
    { label: 'an OOM reply', err: new Error('OOM command not allowed'), kind: 'failing' },
  ])('when the error is $label, then it is $kind', ({ err, kind }) => {
    expect(redisFailure(err)).toBe(kind);
  });
});
