import { buildTestApp, PROBLEM_KEYS, sleep } from '../test/test-app';
import type { App } from './server';

describe('health', () => {
  let app: App;
  beforeEach(async () => {
    app = await buildTestApp();
  });
  afterEach(() => app.close());

  const ready = (headers: Record<string, string> = {}) => app.inject({ method: 'GET', url: '/health/ready', headers });

  it('when the process runs, then /health/live is 200 ok', async () => {
    const res = await app.inject({ method: 'GET', url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('when no checks are registered, then /health/ready is 200', async () => {
    const res = await ready();
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', checks: {} });
  });

  it('when every check answers, then /health/ready is 200 and names each check ok', async () => {
    app.health.addCheck('mysql', async () => 1);
    app.health.addCheck('redis', async () => 'PONG');
    const res = await ready();
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', checks: { mysql: 'ok', redis: 'ok' } });
  });

  it('when a check fails, then 503 problem+json names it in detail and checks, without its error message', async () => {
    app.health.addCheck('mysql', async () => {
      throw new Error('connect ECONNREFUSED mysql-primary.internal:3306');
    });
    app.health.addCheck('redis', async () => 'PONG');
    const res = await ready({ 'x-request-id': 'probe-1' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    const body = res.json();
    expect(body).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE', requestId: 'probe-1', checks: { mysql: 'fail', redis: 'ok' } });
    expect(body.detail).toBe('Not ready: mysql (failing).');
    expect(body.failures).toEqual({ mysql: 'failing' });
    expect(Object.keys(body).sort()).toEqual([...PROBLEM_KEYS, 'checks', 'failures'].sort());
    expect(res.body).not.toContain('mysql-primary.internal');
  });

  it("when a check fails, then its classifier names the kind of failure", async () => {
    const refused = Object.assign(new Error('Access denied for user'), { code: 'ER_ACCESS_DENIED_ERROR' });
    app.health.addCheck('mysql', () => Promise.reject(refused), (err) => ((err as { code?: string }).code === 'ER_ACCESS_DENIED_ERROR' ? 'refused credentials' : 'failing'));
    const res = await ready();
    expect(res.json()).toMatchObject({ detail: 'Not ready: mysql (refused credentials).', failures: { mysql: 'refused credentials' } });
  });

  it('when several checks fail, then each is named', async () => {
    app.health.addCheck('mysql', () => Promise.reject(new Error('down')));
    app.health.addCheck('redis', () => Promise.reject(new Error('down')));
    const res = await ready();
    expect(res.statusCode).toBe(503);
    expect(res.json().detail).toMatch(/mysql.*redis|redis.*mysql/);
    expect(res.json().checks).toEqual({ mysql: 'fail', redis: 'fail' });
  });

  it('when a check throws before returning a promise, then it counts as failed: 503, not 500', async () => {
    app.health.addCheck('redis', () => {
      throw new Error('client not connected');
    });
    const res = await ready();
    expect(res.statusCode).toBe(503);
    expect(res.json().checks).toEqual({ redis: 'fail' });
  });

  it('when a check never answers, then 503 comes within 1.5 s naming it', async () => {
    app.health.addCheck('stuck', () => new Promise(() => undefined));
    const started = Date.now();
    const res = await ready();
    const elapsed = Date.now() - started;
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', checks: { stuck: 'fail' }, failures: { stuck: 'timeout' } });
    expect(res.json().detail).toBe('Not ready: stuck (timeout).');
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(1_500);
  });

  it('when checks are slow, then they run side by side, not one after another', async () => {
    app.health.addCheck('a', () => sleep(300));
    app.health.addCheck('b', () => sleep(300));
    app.health.addCheck('c', () => sleep(300));
    const started = Date.now();
    const res = await ready();
    expect(res.statusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(800);
  });

  it('when a check is added again under the same name, then the later one replaces it', async () => {
    app.health.addCheck('mysql', () => Promise.reject(new Error('old')));
    app.health.addCheck('mysql', async () => 1);
    const res = await ready();
    expect(res.statusCode).toBe(200);
    expect(res.json().checks).toEqual({ mysql: 'ok' });
  });
});
