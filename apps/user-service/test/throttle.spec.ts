import { generateKeyPairSync } from 'node:crypto';
import type { App } from '@platform/service-kit';
import { createSigner } from 'fast-jwt';
import { v7 as uuidv7 } from 'uuid';
import { PASSWORD, build, me, newEmail, register, signUpAndIn } from './helper';

const loginFrom = (app: App, ip: string, email: string, password = PASSWORD) =>
  app.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: ip, payload: { email, password } });

describe('login throttles', () => {
  let app: App;
  beforeAll(async () => {
    app = await build({ LOGIN_RATE_LIMIT_MAX: '3', LOGIN_FAILURE_MAX: '3', LOGIN_FAILURE_WINDOW_SECONDS: '900', RATE_LIMIT_MAX: '5' });
  });
  afterAll(() => app.close());

  it('when one IP logs in more than LOGIN_RATE_LIMIT_MAX times in the window, then 429 RATE_LIMITED with Retry-After; another IP is not affected', async () => {
    const user = await register(app);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await loginFrom(app, '10.1.0.1', user.email));
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 429]);
    const refused = answers[3];
    expect(refused?.json()).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    expect(Number(refused?.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused?.headers['ratelimit-policy']).toBe('"login";q=3;w=60');
    expect(answers[0]?.headers['ratelimit']).toMatch(/^"login";r=2;t=\d+$/);
    expect((await loginFrom(app, '10.1.0.2', user.email)).statusCode).toBe(200);
  });

  it('when an account fails LOGIN_FAILURE_MAX times, then even the right password is 429 for it, from any IP, and other accounts go on', async () => {
    const victim = await register(app);
    const bystander = await register(app);
    const failures = [];
    for (let i = 0; i < 3; i++) failures.push((await loginFrom(app, `10.2.0.${i}`, victim.email, 'wrong password')).statusCode);
    expect(failures).toEqual([401, 401, 401]);
    const locked = await loginFrom(app, '10.2.1.1', victim.email);
    expect(locked.statusCode).toBe(429);
    expect(locked.json().code).toBe('RATE_LIMITED');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(800);
    expect((await loginFrom(app, '10.2.1.2', bystander.email)).statusCode).toBe(200);
  });

  it('when unknown emails fail, then they are locked out the same way (no difference that reveals which emails exist)', async () => {
    const ghost = newEmail();
    for (let i = 0; i < 3; i++) expect((await loginFrom(app, `10.3.0.${i}`, ghost, 'wrong password')).statusCode).toBe(401);
    expect((await loginFrom(app, '10.3.1.1', ghost)).statusCode).toBe(429);
  });

  it('when a signed-in user exceeds the general limit, then 429, counted per user whatever the IP', async () => {
    const { pair } = await signUpAndIn(app);
    const codes = [];
    for (let i = 0; i < 6; i++) {
      const res = await app.inject({ method: 'GET', url: '/v1/users/me', remoteAddress: `10.4.0.${i}`, headers: { authorization: `Bearer ${pair.accessToken}` } });
      codes.push(res.statusCode);
      if (i === 0) expect(res.headers['ratelimit-policy']).toBe('"default";q=5;w=60');
    }
    expect(codes).toEqual([200, 200, 200, 200, 200, 429]);
  });
});

describe('with Redis unreachable', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  let app: App;
  beforeAll(async () => {
    app = await build({
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_COMMAND_TIMEOUT_MS: '100',
      JWT_SIGNING_KEYS: JSON.stringify([{ ...privateKey.export({ format: 'jwk' }), kid: 'k1' }]),
    });
  });
  afterAll(() => app.close());

  it('when someone registers, then it works (the general limit fails open)', async () => {
    await register(app);
  });

  it('when someone logs in, then 503 DEPENDENCY_UNAVAILABLE: the login throttle fails closed', async () => {
    const user = await register(app);
    const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: user.email, password: PASSWORD } });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('DEPENDENCY_UNAVAILABLE');
  });

  it('when a valid token is presented, then 503: revocation cannot be checked and fails closed', async () => {
    const now = Date.now();
    const sign = createSigner({ key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), algorithm: 'EdDSA', kid: 'k1', header: { alg: 'EdDSA', typ: 'at+jwt' } });
    const token = sign({ sub: uuidv7(), sid: uuidv7(), jti: uuidv7(), iat: Math.floor(now / 1000), iat_ms: now, exp: Math.floor(now / 1000) + 600, iss: 'user-service', aud: 'order-platform' });
    const res = await me(app, token);
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('DEPENDENCY_UNAVAILABLE');
  });
});
