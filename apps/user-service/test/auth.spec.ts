import { randomUUID } from 'node:crypto';
import type { App } from '@platform/service-kit';
import { PASSWORD, bearer, build, login, me, newEmail, register, signUpAndIn } from './helper';

let app: App;
beforeAll(async () => {
  app = await build();
});
afterAll(() => app.close());

const decode = (jwt: string, part: 0 | 1) => JSON.parse(Buffer.from(jwt.split('.')[part] as string, 'base64url').toString()) as Record<string, unknown>;

describe('POST /v1/auth/register', () => {
  it('when the input is valid, then 201 with the user, the email trimmed and lower-cased, and no password in sight', async () => {
    const local = `Mixed-${Date.now()}`;
    const res = await app.inject({ method: 'POST', url: '/v1/auth/register', payload: { email: `  ${local}@Example.COM `, password: PASSWORD, name: 'Ada' } });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['createdAt', 'email', 'id', 'name']);
    expect(body.email).toBe(`${local.toLowerCase()}@example.com`);
    expect(body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
    expect(new Date(body.createdAt).toISOString()).toBe(body.createdAt);
    expect(res.body).not.toMatch(/argon2|password/i);
  });

  it('when the email is taken, in another case too, then 409 EMAIL_TAKEN', async () => {
    const email = newEmail();
    await register(app, email);
    const res = await app.inject({ method: 'POST', url: '/v1/auth/register', payload: { email: email.toUpperCase(), password: PASSWORD, name: 'B' } });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'EMAIL_TAKEN', status: 409 });
  });

  it.each([
    ['a password of 7 characters', { password: '1234567' }, 'body/password'],
    ['a password of 129 characters', { password: 'x'.repeat(129) }, 'body/password'],
    ['an empty name', { name: '' }, 'body/name'],
    ['a name of blanks', { name: '   ' }, 'body/name'],
    ['a name of 101 characters', { name: 'n'.repeat(101) }, 'body/name'],
    ['a number for a name', { name: 42 }, 'body/name'],
    ['no @ in the email', { email: 'ada.example.com' }, 'body/email'],
    ['an email of 255 characters once trimmed', { email: ` ${'a'.repeat(60)}@${'b'.repeat(190)}.com ` }, 'body/email'],
    ['an undeclared property', { role: 'admin' }, 'body/role'],
  ])('when it has %s, then 400 VALIDATION_FAILED naming the field', async (_case, change, path) => {
    const payload = { email: newEmail(), password: PASSWORD, name: 'Ada', ...change };
    const res = await app.inject({ method: 'POST', url: '/v1/auth/register', payload });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(res.json().errors.map((e: { path: string }) => e.path)).toContain(path);
  });

  it('when the email has 254 characters of which 20 lie outside the BMP, then 201: the limit counts characters, not UTF-16 units', async () => {
    const email = `${'😀'.repeat(20)}${randomUUID().slice(0, 8)}@${'b'.repeat(221)}.com`;
    expect([...email]).toHaveLength(254);
    const res = await app.inject({ method: 'POST', url: '/v1/auth/register', payload: { email, password: PASSWORD, name: 'Ada' } });
    expect(res.statusCode).toBe(201);
    expect(res.json().email).toBe(email);
  });

  it('when the password has 128 characters and the name 100 (unicode), then both limits hold inclusively', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { email: newEmail(), password: 'p'.repeat(128), name: 'é'.repeat(99) + '😀' },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().name).toBe('é'.repeat(99) + '😀');
  });
});

describe('POST /v1/auth/login', () => {
  it('when the password is right, then 200 with an EdDSA access token carrying the contract claims and an opaque refresh token', async () => {
    const user = await register(app);
    const pair = await login(app, ` ${user.email.toUpperCase()} `);
    expect(pair).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
    const header = decode(pair.accessToken, 0);
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
    expect(typeof header['kid']).toBe('string');
    const claims = decode(pair.accessToken, 1);
    expect(claims).toMatchObject({ sub: user.id, iss: 'user-service', aud: 'order-platform' });
    expect(Object.keys(claims).sort()).toEqual(['aud', 'exp', 'iat', 'iat_ms', 'iss', 'jti', 'sid', 'sub']);
    expect(claims['exp']).toBe((claims['iat'] as number) + 900);
    expect(Math.floor((claims['iat_ms'] as number) / 1000)).toBe(claims['iat']);
    // 32 random bytes, base64url: 43 characters, and nothing a JWT parser would take.
    expect(pair.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await me(app, pair.accessToken)).statusCode).toBe(200);
  });

  it('when the password is wrong or the email unknown, then the same 401 INVALID_CREDENTIALS', async () => {
    const user = await register(app);
    const wrong = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: user.email, password: 'not the password' } });
    const unknown = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: newEmail(), password: PASSWORD } });
    for (const res of [wrong, unknown]) {
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const strip = (b: Record<string, unknown>) => ({ ...b, requestId: undefined });
    expect(strip(wrong.json())).toEqual(strip(unknown.json()));
    expect(wrong.json()).toMatchObject({ code: 'INVALID_CREDENTIALS' });
  });

  it('when the email is unknown, then an argon2 verification still runs (no fast path that tells accounts apart)', async () => {
    const user = await register(app);
    const time = async (email: string) => {
      const started = performance.now();
      await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: 'wrong password' } });
      return performance.now() - started;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const wrong: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      wrong.push(await time(user.email));
      unknown.push(await time(newEmail()));
    }
    // A skipped verification would be ~20x faster (one indexed SELECT against ~20 ms of argon2);
    // the bound is loose so that machine noise cannot fail it.
    expect(median(unknown)).toBeGreaterThan(median(wrong) * 0.4);
  });
});

describe('POST /v1/auth/refresh', () => {
  it('when a refresh token is used, then a new pair comes back and the old refresh token is spent', async () => {
    const { pair } = await signUpAndIn(app);
    const res = await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: pair.refreshToken } });
    expect(res.statusCode).toBe(200);
    const next = res.json();
    expect(next.refreshToken).not.toBe(pair.refreshToken);
    expect(decode(next.accessToken, 1)['sid']).toBe(decode(pair.accessToken, 1)['sid']);
    expect((await me(app, next.accessToken)).statusCode).toBe(200);
  });

  it('when a spent refresh token is presented again, then 401 and the whole family is revoked, access tokens included', async () => {
    const { user, pair } = await signUpAndIn(app);
    const other = await login(app, user.email);
    const rotated = (await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: pair.refreshToken } })).json();
    const reuse = await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: pair.refreshToken } });
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json()).toMatchObject({ code: 'INVALID_REFRESH_TOKEN' });
    // The thief's (or the user's) newer token of the same family is dead too.
    expect((await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: rotated.refreshToken } })).statusCode).toBe(401);
    expect((await me(app, rotated.accessToken)).statusCode).toBe(401);
    expect((await me(app, pair.accessToken)).statusCode).toBe(401);
    // Another sign-in of the same user is another family: untouched.
    expect((await me(app, other.accessToken)).statusCode).toBe(200);
  });

  it('when two refreshes race with one token, then exactly one gets a pair', async () => {
    const { pair } = await signUpAndIn(app);
    const answers = await Promise.all(
      [1, 2].map(() => app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: pair.refreshToken } })),
    );
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 401]);
  });

  it.each([
    ['an unknown token', 401, { refreshToken: 'A'.repeat(43) }],
    ['an access token in its place', 401, null],
    ['an empty token', 400, { refreshToken: '' }],
  ])('when it gets %s, then %i', async (_case, status, payload) => {
    const { pair } = await signUpAndIn(app);
    const res = await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: payload ?? { refreshToken: pair.accessToken } });
    expect(res.statusCode).toBe(status);
  });

  it('when a refresh token is presented as a Bearer access token, then 401', async () => {
    const { pair } = await signUpAndIn(app);
    expect((await me(app, pair.refreshToken)).statusCode).toBe(401);
  });
});

describe('POST /v1/auth/logout and /logout-all', () => {
  it('when a session logs out, then 204, its access and refresh tokens stop working, and other sessions go on', async () => {
    const { user, pair } = await signUpAndIn(app);
    const other = await login(app, user.email);
    const res = await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(pair.accessToken) });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect((await me(app, pair.accessToken)).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: pair.refreshToken } })).statusCode).toBe(401);
    expect((await me(app, other.accessToken)).statusCode).toBe(200);
  });

  it('when a user logs out everywhere, then every token issued until then is refused, and a login right after works', async () => {
    const { user, pair } = await signUpAndIn(app);
    const other = await login(app, user.email);
    expect((await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: bearer(pair.accessToken) })).statusCode).toBe(204);
    for (const token of [pair.accessToken, other.accessToken]) expect((await me(app, token)).statusCode).toBe(401);
    for (const refreshToken of [pair.refreshToken, other.refreshToken]) {
      expect((await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } })).statusCode).toBe(401);
    }
    const fresh = await login(app, user.email);
    expect((await me(app, fresh.accessToken)).statusCode).toBe(200);
  });

  it('when logout is called without a token, then 401 with WWW-Authenticate', async () => {
    for (const url of ['/v1/auth/logout', '/v1/auth/logout-all']) {
      const res = await app.inject({ method: 'POST', url });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
  });
});
