import type { App } from '@platform/service-kit';
import { TcpProxy, eventually, kitApp, readiness, testKeyPrefix } from '@platform/testing';
import { redis } from './redis-plugin';

let proxy: TcpProxy;
let app: App;

const ready = () => readiness(app);

beforeAll(async () => {
  proxy = await TcpProxy.forUrl(process.env['REDIS_URL'] as string).start();
  const server = await kitApp('redis-test');
  await server.register(redis, { url: proxy.rewrite(process.env['REDIS_URL'] as string), commandTimeoutMs: 300, keyPrefix: testKeyPrefix('plugin') });
  await server.ready();
  app = server;
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
    expect(down.body).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', checks: { redis: 'fail' } });
    expect(String(down.body['detail'])).toContain('redis');
    expect(Date.now() - started).toBeLessThan(1_500);

    await proxy.start();
    expect(await eventually(async () => (await ready()).status === 200, 10_000)).toBe(true);
  });
});
