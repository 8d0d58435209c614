import type { App } from '@platform/service-kit';
import { TcpProxy, createTestDatabase, eventually, kitApp, readiness, type TestDatabase } from '@platform/testing';
import { mysql } from './mysql-plugin';

let db: TestDatabase;
let proxy: TcpProxy;
let app: App;

const ready = () => readiness(app);

beforeAll(async () => {
  db = await createTestDatabase('mysqlplugin');
  proxy = TcpProxy.forUrl(db.url);
});

afterEach(async () => {
  await app?.close();
});

afterAll(async () => {
  await proxy.stop();
  await db.drop();
});

async function buildWithProxy(url = proxy.rewrite(db.url), timeouts = { queryTimeoutMs: 2_000, acquireTimeoutMs: 2_000 }): Promise<App> {
  const server = await kitApp('mysql-test');
  await server.register(mysql, { url, poolSize: 2, connectTimeoutMs: 500, ...timeouts, retryIntervalMs: 100 });
  server.get('/now', async () => {
    const [row] = (await server.db.query('SELECT 1 AS one')) as { one: number }[];
    return { one: row?.one };
  });
  server.get('/connection', async () => {
    const [row] = (await server.db.query('SELECT CONNECTION_ID() AS id')) as { id: number | string }[];
    return { id: Number(row?.id) };
  });
  await server.ready();
  return server;
}

describe('mysql plugin', () => {
  it('when MySQL is unreachable at start, then the process starts, reports mysql, answers 503, and connects later by itself', async () => {
    // Reserve a port, then leave nothing listening on it.
    await proxy.start();
    await proxy.stop();
    app = await buildWithProxy();

    const down = await ready();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', checks: { mysql: 'fail' }, failures: { mysql: 'not answering' } });
    expect(down.body['detail']).toBe('Not ready: mysql (not answering).');
    const route = await app.inject({ method: 'GET', url: '/now' });
    expect(route.statusCode).toBe(503);
    expect(route.json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });

    await proxy.start();
    expect(await eventually(async () => (await ready()).status === 200, 10_000)).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/now' })).json()).toEqual({ one: 1 });
  });

  it('when MySQL goes away while running, then ready and routes are 503, and both recover without a restart', async () => {
    await proxy.start();
    app = await buildWithProxy();
    expect((await ready()).status).toBe(200);

    await proxy.stop();
    expect(await eventually(async () => (await ready()).status === 503, 5_000)).toBe(true);
    const route = await app.inject({ method: 'GET', url: '/now' });
    expect(route.statusCode).toBe(503);
    expect(route.json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    expect(JSON.stringify(route.json())).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|SELECT/);

    await proxy.start();
    expect(await eventually(async () => (await ready()).status === 200, 10_000)).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/now' })).statusCode).toBe(200);
  });

  it('when MySQL goes silent (no reset, no answer), then routes answer 503 within the query or acquire timeout, the stuck connections are destroyed, and the first query after it heals succeeds', async () => {
    await proxy.start();
    app = await buildWithProxy(undefined, { queryTimeoutMs: 300, acquireTimeoutMs: 300 });
    const before = new Set(await Promise.all([1, 2].map(async () => (await app.inject({ method: 'GET', url: '/connection' })).json().id as number)));

    proxy.freeze();
    // Two queries hold both pooled connections on the dead link; the next ones wait for a connection.
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 6 }, () => app.inject({ method: 'GET', url: '/now' })));
    const took = Date.now() - started;
    expect(answers.map((a) => a.statusCode)).toEqual(answers.map(() => 503));
    expect(answers.map((a) => a.headers['retry-after'])).toEqual(answers.map(() => '1'));
    // 300 ms + the client's grace for the stuck queries, 300 ms for the waiting ones; slack for a loaded machine.
    expect(took).toBeLessThan(1_500);
    const down = await ready();
    expect(down.body).toMatchObject({ checks: { mysql: 'fail' }, failures: { mysql: 'timeout' } });

    proxy.thaw();
    // The connections that timed out were destroyed: none answers again, so no late reply is read
    // as another query's, and the first query after the heal gets a fresh connection at once.
    const after = await app.inject({ method: 'GET', url: '/connection' });
    expect(after.statusCode).toBe(200);
    expect(before.has(after.json().id)).toBe(false);
    expect((await ready()).status).toBe(200);
  });

  it('when MySQL refuses the credentials, then ready says so, without the password', async () => {
    await proxy.start();
    const url = new URL(db.url);
    Object.assign(url, { username: 'nobody_here', password: 's3cret-pw' });
    app = await buildWithProxy(proxy.rewrite(url.toString()));
    const down = await ready();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ checks: { mysql: 'fail' }, failures: { mysql: 'refused credentials' } });
    expect(down.body['detail']).toBe('Not ready: mysql (refused credentials).');
    expect(JSON.stringify(down.body)).not.toMatch(/s3cret|nobody_here/);
  });

  it('when the schema does not exist, then ready names an unknown schema', async () => {
    await proxy.start();
    const url = new URL(db.url);
    url.pathname = `/${db.name}_missing`;
    app = await buildWithProxy(proxy.rewrite(url.toString()));
    const down = await ready();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ failures: { mysql: 'unknown schema' } });
    expect(JSON.stringify(down.body)).not.toContain(db.name);
  });
});
