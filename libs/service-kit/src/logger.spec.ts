import pino from 'pino';
import { buildTestApp, captureLogs } from '../test/test-app';
import { loggerOptions } from './logger';
import type { App } from './server';

function logger(level = 'info') {
  const logs = captureLogs();
  return { log: pino(loggerOptions({ service: 'kit-test', level }), logs.stream), ...logs };
}

describe('loggerOptions', () => {
  it('when a line is written, then it is JSON with a level label, an ISO time and the service', () => {
    const { log, lines } = logger();
    log.info({ orderId: 'o-1' }, 'hello');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', service: 'kit-test', orderId: 'o-1', msg: 'hello' });
    expect(new Date(lines[0]?.['time'] as string).toISOString()).toBe(lines[0]?.['time']);
  });

  it('when a line is below the level, then it is not written', () => {
    const { log, lines } = logger('warn');
    log.info('quiet');
    log.warn('loud');
    expect(lines.map((l) => l.msg)).toEqual(['loud']);
  });

  it('when request headers carry authorization, cookie, an API key and the peer secret, then none of them is written', () => {
    const { log, lines, raw } = logger();
    log.info({
      req: { method: 'GET', headers: { authorization: 'Bearer eyJ.secret-jwt', cookie: 'sid=secret-cookie', 'x-api-key': 'secret-key', 'x-platform-peer': 'secret-peer', accept: 'application/json' } },
      res: { headers: { 'set-cookie': 'sid=secret-set-cookie' } },
    });
    expect(lines[0]).toMatchObject({
      req: { headers: { authorization: '[REDACTED]', cookie: '[REDACTED]', 'x-api-key': '[REDACTED]', 'x-platform-peer': '[REDACTED]', accept: 'application/json' } },
      res: { headers: { 'set-cookie': '[REDACTED]' } },
    });
    expect(raw.join('')).not.toMatch(/secret/);
  });

  it('when bare headers are logged, then authorization, cookie and the peer secret are redacted', () => {
    const { log, raw } = logger();
    log.info({ headers: { authorization: 'Bearer secret-jwt', cookie: 'secret-cookie', 'x-platform-peer': 'secret-peer' } });
    expect(raw.join('')).not.toMatch(/secret/);
  });

  it('when passwords and tokens are logged at the top level, then they are redacted', () => {
    const { log, lines, raw } = logger();
    log.info({ password: 'secret-1', refreshToken: 'secret-2', accessToken: 'secret-3', token: 'secret-4', email: 'a@example.com' });
    expect(lines[0]).toMatchObject({ password: '[REDACTED]', refreshToken: '[REDACTED]', email: 'a@example.com' });
    expect(raw.join('')).not.toMatch(/secret/);
  });

  it('when a request body holds passwords and tokens, then they are redacted and the rest is kept', () => {
    const { log, lines, raw } = logger();
    log.info({ body: { email: 'a@example.com', password: 'secret-pw', currentPassword: 'secret-old', newPassword: 'secret-new', refreshToken: 'secret-rt' } });
    expect(lines[0]?.['body']).toEqual({
      email: 'a@example.com',
      password: '[REDACTED]',
      currentPassword: '[REDACTED]',
      newPassword: '[REDACTED]',
      refreshToken: '[REDACTED]',
    });
    expect(raw.join('')).not.toMatch(/secret/);
  });

  it('when a payment method is logged inside a body, then its token is not written', () => {
    const { log, lines, raw } = logger();
    log.info({ body: { orderId: 'o-1', paymentMethod: { type: 'card', token: 'tok_secret_visa' } } });
    expect(lines[0]?.['body']).toEqual({ orderId: 'o-1', paymentMethod: '[REDACTED]' });
    expect(raw.join('')).not.toMatch(/secret/);
  });

  it('when a payment method or card sits two levels deep, then it is still redacted', () => {
    const { log, raw } = logger();
    log.info({
      request: { body: { paymentMethod: { token: 'tok_secret_1' } } },
      charge: { source: { card: { number: '4242424242424242', cvc: '123' } } },
      gateway: { card: { number: '5555555555554444' } },
      provider: { response: { token: 'tok_secret_2', cvv: '999' } },
    });
    const out = raw.join('');
    for (const secret of ['tok_secret', '4242424242424242', '5555555555554444', '"999"', '"123"']) {
      expect(out).not.toContain(secret);
    }
  });

  it('when an error is logged with a private key or secret beside it, then those are redacted', () => {
    const { log, raw } = logger();
    log.error({ err: new Error('signing failed'), key: { privateKey: 'secret-pem', secret: 'secret-hmac' } }, 'oops');
    expect(raw.join('')).not.toMatch(/secret-/);
    expect(raw.join('')).toContain('signing failed');
  });
});

describe('logging through the app', () => {
  const logs = captureLogs();
  let app: App;

  beforeAll(async () => {
    app = await buildTestApp({
      logStream: logs.stream,
      routes: (a) => {
        a.post('/login', async (request) => {
          request.log.info({ body: request.body, headers: request.headers }, 'login attempt');
          return { ok: true };
        });
      },
    });
  });
  afterAll(() => app.close());

  it('when a route logs its body and headers, then the password, refresh token, bearer token and cookie are not written', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/login',
      payload: { email: 'a@example.com', password: 'hunter2-secret', refreshToken: 'rt-secret' },
      headers: { authorization: 'Bearer jwt-secret', cookie: 'sid=cookie-secret' },
    });
    expect(res.statusCode).toBe(200);
    const out = logs.raw.join('');
    expect(out).toContain('login attempt');
    expect(out).toContain('a@example.com');
    expect(out).not.toMatch(/secret/);
  });
});

describe('request loggers at LOG_LEVEL=warn', () => {
  const logs = captureLogs();
  let app: App;

  beforeAll(async () => {
    app = await buildTestApp({
      logStream: logs.stream,
      logLevel: 'warn',
      routes: (a) => {
        a.get('/quiet', async (request) => {
          request.log.info('below the level');
          return { ok: true };
        });
        a.post('/suspicious', async (request) => {
          request.log.warn({ body: request.body, headers: request.headers }, 'suspicious login');
          request.log.child({ step: 'inner' }).error('inner failure');
          return { ok: true };
        });
        a.get('/verbose', async (request) => {
          request.log.level = 'debug';
          request.log.debug('detail');
          return { level: request.log.level };
        });
      },
    });
  });
  afterAll(() => app.close());
  beforeEach(() => {
    logs.lines.length = 0;
  });

  it('when a request writes a warning and an error through a child, then each line carries its requestId and no secret', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/suspicious',
      payload: { email: 'a@example.com', password: 'hunter2-secret', paymentMethod: { token: 'tok_secret' } },
      headers: { authorization: 'Bearer jwt-secret', 'x-request-id': 'trace-warn' },
    });
    expect(res.statusCode).toBe(200);
    expect(logs.lines.map((l) => [l.msg, l.level, l.requestId])).toEqual([
      ['suspicious login', 'warn', 'trace-warn'],
      ['inner failure', 'error', 'trace-warn'],
    ]);
    expect(logs.lines[1]).toMatchObject({ step: 'inner', service: 'kit-test' });
    expect(logs.lines[0]?.['body']).toEqual({ email: 'a@example.com', password: '[REDACTED]', paymentMethod: '[REDACTED]' });
    expect(logs.raw.join('')).not.toMatch(/secret/);
  });

  it("when a request lowers its logger's level, then its debug line is written with its requestId and other requests stay at warn", async () => {
    const res = await app.inject({ method: 'GET', url: '/verbose', headers: { 'x-request-id': 'trace-debug' } });
    expect(res.json()).toEqual({ level: 'debug' });
    expect(logs.lines).toContainEqual(expect.objectContaining({ msg: 'detail', level: 'debug', requestId: 'trace-debug' }));
    logs.lines.length = 0;
    await app.inject({ method: 'GET', url: '/quiet' });
    expect(logs.lines).toEqual([]);
  });
});
