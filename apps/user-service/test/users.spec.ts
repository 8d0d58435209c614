import type { App } from '@platform/service-kit';
import { bearer, build, login, me, signUpAndIn } from './helper';

let app: App;
beforeAll(async () => {
  app = await build();
});
afterAll(() => app.close());

const cacheHits = async () => {
  const text = await (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => /^cache_requests_total\{.*cache="users".*result="hit"/.test(l));
  return Number(line?.split(' ').at(-1) ?? 0);
};

describe('GET /v1/users/me', () => {
  it('when signed in, then 200 with the user, and the second read is a cache hit', async () => {
    const { user, pair } = await signUpAndIn(app);
    const first = await me(app, pair.accessToken);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ id: user.id, email: user.email, name: user.name, createdAt: user.createdAt });
    const hits = await cacheHits();
    expect((await me(app, pair.accessToken)).json()).toEqual(first.json());
    expect(await cacheHits()).toBe(hits + 1);
  });

  it('when no token or a malformed header is sent, then 401 problem+json with WWW-Authenticate', async () => {
    for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'Bearer' }, { authorization: 'Bearer not.a.jwt' }]) {
      const res = await app.inject({ method: 'GET', url: '/v1/users/me', headers });
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
  });
});

describe('PATCH /v1/users/me', () => {
  it('when the name changes, then 200 with it, and the next read (cached before) shows it', async () => {
    const { pair } = await signUpAndIn(app);
    await me(app, pair.accessToken);
    const res = await app.inject({ method: 'PATCH', url: '/v1/users/me', headers: bearer(pair.accessToken), payload: { name: "O'Brien; DROP TABLE users; -- 名前" } });
    expect(res.statusCode).toBe(200);
    expect(res.json().name).toBe("O'Brien; DROP TABLE users; -- 名前");
    expect((await me(app, pair.accessToken)).json().name).toBe("O'Brien; DROP TABLE users; -- 名前");
  });

  it.each([[{}], [{ name: '' }], [{ name: 'x', email: 'evil@example.com' }], [{ name: 7 }]])('when the body is %j, then 400', async (payload) => {
    const { pair } = await signUpAndIn(app);
    const res = await app.inject({ method: 'PATCH', url: '/v1/users/me', headers: bearer(pair.accessToken), payload });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('VALIDATION_FAILED');
  });

  it('when not signed in, then 401', async () => {
    expect((await app.inject({ method: 'PATCH', url: '/v1/users/me', payload: { name: 'x' } })).statusCode).toBe(401);
  });
});

describe('POST /v1/users/me/password', () => {
  const change = (token: string, payload: object) => app.inject({ method: 'POST', url: '/v1/users/me/password', headers: bearer(token), payload });

  it('when the current password is wrong, then 400 INVALID_CURRENT_PASSWORD and nothing changes', async () => {
    const { user, pair } = await signUpAndIn(app);
    const res = await change(pair.accessToken, { currentPassword: 'wrong one', newPassword: 'another good one' });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('INVALID_CURRENT_PASSWORD');
    expect((await me(app, pair.accessToken)).statusCode).toBe(200);
    await login(app, user.email);
  });

  it('when the new password is too short, then 400 VALIDATION_FAILED', async () => {
    const { user, pair } = await signUpAndIn(app);
    expect((await change(pair.accessToken, { currentPassword: user.password, newPassword: 'short' })).statusCode).toBe(400);
  });

  it('when it changes, then 204, every earlier token is refused, the old password fails and the new one works', async () => {
    const { user, pair } = await signUpAndIn(app);
    const other = await login(app, user.email);
    const res = await change(pair.accessToken, { currentPassword: user.password, newPassword: 'a brand new secret' });
    expect(res.statusCode).toBe(204);
    for (const token of [pair.accessToken, other.accessToken]) expect((await me(app, token)).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: other.refreshToken } })).statusCode).toBe(401);
    const old = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: user.email, password: user.password } });
    expect(old.statusCode).toBe(401);
    const fresh = await login(app, user.email, 'a brand new secret');
    expect((await me(app, fresh.accessToken)).statusCode).toBe(200);
  });

  it('when not signed in, then 401', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/users/me/password', payload: { currentPassword: 'a', newPassword: 'abcdefghij' } });
    expect(res.statusCode).toBe(401);
  });
});
