import { randomUUID } from 'node:crypto';
import { Socket } from 'node:net';
import { jwksKeySource } from '@platform/auth';
import { badTokens, generateSigningKey, signAccessToken, startJwksServer, type TestJwksServer } from '@platform/auth/testing';
import { keySpace } from '@platform/redis';
import { httpAgent, type App } from '@platform/service-kit';
import { testKeyPrefix } from '@platform/testing';
import { PEER_HEADER, peerSecrets, vouching } from './peer';
import { pipelineApp, type PipelineAppOptions } from '../test/pipeline-app';

const key = generateSigningKey('k1');
const stranger = generateSigningKey('k-stranger');
const sharedKeyPrefix = testKeyPrefix('pipeline');
let jwks: TestJwksServer;
const apps: App[] = [];
/** What a service's `app.peers` is. */
const dispatcher = httpAgent({ connectTimeoutMs: 1_000, timeoutMs: 1_000 });

beforeAll(async () => {
  jwks = await startJwksServer([key]);
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  jwks.publish([key]);
  jwks.fail(false);
});
afterAll(async () => {
  await dispatcher.close();
  await jwks.close();
});

async function appWith(opts: Partial<PipelineAppOptions> = {}): Promise<App> {
  const app = await pipelineApp({ keys: jwksKeySource({ url: jwks.url, dispatcher, minRefetchIntervalMs: 60_000 }), sharedKeyPrefix, ...opts });
  apps.push(app);
  return app;
}

const get = (app: App, token?: string, url = '/v1/echo') =>
  app.inject({ method: 'GET', url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

const REALM = 'Bearer realm="order-platform"';
const nowS = () => Math.floor(Date.now() / 1000);

/** A user id of its own for each test that names one. */
const user = () => randomUUID();

describe('request pipeline: the token', () => {
  it('when a valid token is presented, then 200 and request.auth holds the user, session and token', async () => {
    const app = await appWith();
    const userId = user();
    const token = signAccessToken(key, { claims: { sub: userId, sid: 's-1', jti: 'j-1' } });
    const res = await get(app, token);
    expect(res.statusCode).toBe(200);
    expect(res.json().auth).toEqual({ userId, sessionId: 's-1', tokenId: 'j-1', expiresAt: expect.any(Number), issuedAtMs: expect.any(Number) });
  });

  it('when no Authorization header is sent, then 401 UNAUTHORIZED problem+json with a Bearer challenge and no error', async () => {
    const app = await appWith();
    const res = await get(app);
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['www-authenticate']).toBe(REALM);
    expect(res.json()).toMatchObject({ status: 401, code: 'UNAUTHORIZED', detail: expect.stringMatching(/required/) });
  });

  it('when the header is not a Bearer one, then it is a missing token', async () => {
    const app = await appWith();
    const res = await app.inject({ method: 'GET', url: '/v1/echo', headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(REALM);
  });

  it('when a token already verified comes again in another spelling of the header, then it is judged as the first time', async () => {
    const app = await appWith();
    const token = signAccessToken(key);
    expect((await get(app, token)).statusCode).toBe(200);
    const as = async (authorization: string) => (await app.inject({ method: 'GET', url: '/v1/echo', headers: { authorization } })).statusCode;
    // The pattern's other spellings still pass; anything more than the token after `Bearer ` does not.
    expect(await as(`bearer ${token}`)).toBe(200);
    expect(await as(`Bearer   ${token}  `)).toBe(200);
    expect(await as(`Bearer ${token}x`)).toBe(401);
    expect(await as(`Bearer ${token}.`)).toBe(401);
    expect(await as(`Bearer ${token} extra`)).toBe(401);
    expect(await as(`Bearer${token}`)).toBe(401);
  });

  it.each(badTokens(key, stranger).map((b) => [b.name, b] as const))('when the token is bad (%s), then 401 invalid_token', async (_name, bad) => {
    const app = await appWith();
    const res = await get(app, bad.token);
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`${REALM}, error="invalid_token"`);
    expect(res.json()).toMatchObject({ code: 'UNAUTHORIZED', detail: bad.reason === 'expired' ? expect.stringMatching(/expired/) : expect.stringMatching(/invalid/) });
    expect(res.body).not.toContain(bad.token);
  });

  it('when a route opts out, or lies outside /v1, or matches nothing, then no token is needed', async () => {
    const app = await appWith();
    expect((await get(app, undefined, '/v1/open')).statusCode).toBe(200);
    expect((await get(app, undefined, '/internal/echo')).statusCode).toBe(200);
    expect((await get(app, undefined, '/health/live')).statusCode).toBe(200);
    expect((await get(app, undefined, '/v1/nothing-here')).statusCode).toBe(404);
  });

  it('when a flood of 50 tokens with unknown kids arrives, then 401 each and the JWKS is fetched at most once more', async () => {
    const app = await appWith({ policies: { default: { limit: 1_000, windowSeconds: 60, failMode: 'open' }, login: { limit: 5, windowSeconds: 30, failMode: 'closed' } } });
    expect((await get(app, signAccessToken(key))).statusCode).toBe(200);
    const before = jwks.hits();
    const flood = await Promise.all(Array.from({ length: 50 }, (_, i) => get(app, signAccessToken({ ...stranger, kid: `made-up-${i}` }))));
    expect(flood.map((r) => r.statusCode)).toEqual(Array(50).fill(401));
    expect(jwks.hits() - before).toBeLessThanOrEqual(1);
  });

  it('when the JWKS gains a new key (rotation), then a token under the new kid verifies after one refetch', async () => {
    const app = await appWith({ keys: jwksKeySource({ url: jwks.url, dispatcher, minRefetchIntervalMs: 0 }) });
    expect((await get(app, signAccessToken(key))).statusCode).toBe(200);
    const next = generateSigningKey('k2');
    jwks.publish([key, next]);
    const before = jwks.hits();
    expect((await get(app, signAccessToken(next))).statusCode).toBe(200);
    expect(jwks.hits() - before).toBe(1);
  });

  it('when the JWKS cannot be fetched and no key is known, then 503 DEPENDENCY_UNAVAILABLE, not 401', async () => {
    jwks.fail(true);
    const app = await appWith();
    const res = await get(app, signAccessToken(key));
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
  });

  describe('revocation', () => {
    it('when the token is revoked by its jti, then 401 revoked; another token of the user still passes', async () => {
      const app = await appWith();
      const userId = user();
      const token = signAccessToken(key, { claims: { sub: userId, jti: 'j-gone' } });
      await app.revocation.revokeToken(userId, 'j-gone', nowS() + 900);
      const res = await get(app, token);
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe(`${REALM}, error="invalid_token"`);
      expect(res.json().detail).toMatch(/revoked/);
      expect((await get(app, signAccessToken(key, { claims: { sub: userId } }))).statusCode).toBe(200);
    });

    it('when the session is revoked, then every token of that session is 401 and other sessions pass', async () => {
      const app = await appWith();
      const userId = user();
      await app.revocation.revokeSession(userId, 's-gone', nowS() + 900);
      expect((await get(app, signAccessToken(key, { claims: { sub: userId, sid: 's-gone' } }))).statusCode).toBe(401);
      expect((await get(app, signAccessToken(key, { claims: { sub: userId, sid: 's-gone' } }))).statusCode).toBe(401);
      expect((await get(app, signAccessToken(key, { claims: { sub: userId, sid: 's-kept' } }))).statusCode).toBe(200);
    });

    it('when all the user tokens are revoked, then tokens issued up to the cutoff are 401 and one issued 1 ms after passes', async () => {
      const app = await appWith();
      const cutoff = Date.now();
      const userId = user();
      await app.revocation.revokeAllBefore(userId, cutoff);
      expect((await get(app, signAccessToken(key, { claims: { sub: userId, iat_ms: cutoff - 60_000 } }))).statusCode).toBe(401);
      expect((await get(app, signAccessToken(key, { claims: { sub: userId, iat_ms: cutoff } }))).statusCode).toBe(401);
      expect((await get(app, signAccessToken(key, { claims: { sub: userId, iat_ms: cutoff + 1 } }))).statusCode).toBe(200);
    });

    it.each(['closed', 'open'] as const)(
      'when the revocation marker, once seen, vanishes (Redis lost the marks), then checks answer as Redis-down in fail mode %s until it is back',
      async (failMode) => {
        const prefix = testKeyPrefix('auth-marker');
        const app = await appWith({ sharedKeyPrefix: prefix, markerCheckMs: 20, failMode });
        const token = signAccessToken(key);
        const settled = async (status: number) => {
          for (let i = 0; i < 100 && (await get(app, token)).statusCode !== status; i++) await new Promise((r) => setTimeout(r, 20));
          return (await get(app, token)).statusCode;
        };
        // Never seen yet (a Redis that user-service has not marked): checks run as usual.
        expect((await get(app, token)).statusCode).toBe(200);
        await app.revocation.marker.set(60);
        await new Promise((r) => setTimeout(r, 100));
        expect((await get(app, token)).statusCode).toBe(200);
        await app.redis.del(keySpace(prefix).revocationMarker());
        const whileLost = failMode === 'closed' ? 503 : 200;
        expect(await settled(whileLost)).toBe(whileLost);
        if (failMode === 'closed') expect((await get(app, token)).json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
        await app.revocation.marker.set(60);
        expect(await settled(200)).toBe(200);
      },
    );

    it('when the marker is there but names another primary (Redis failed over: the last marks may be lost), then checks answer 503 until user-service writes it again', async () => {
      const prefix = testKeyPrefix('auth-marker');
      const app = await appWith({ sharedKeyPrefix: prefix, markerCheckMs: 20 });
      const token = signAccessToken(key);
      const settled = async (status: number) => {
        for (let i = 0; i < 100 && (await get(app, token)).statusCode !== status; i++) await new Promise((r) => setTimeout(r, 20));
        return (await get(app, token)).statusCode;
      };
      await app.revocation.marker.set(60);
      // The watcher (every 20 ms) has checked it against the primary.
      await new Promise((r) => setTimeout(r, 100));
      expect(await settled(200)).toBe(200);
      // What a promoted replica holds: the marker, written when another server was the primary.
      await app.redis.set(keySpace(prefix).revocationMarker(), 'replid-of-the-old-primary', 'EX', 60);
      expect((await get(app, token)).statusCode).toBe(503);
      expect(await settled(503)).toBe(503);
      await app.revocation.marker.set(60);
      expect(await settled(200)).toBe(200);
    });

    it('when another instance revokes, then this one sees it: the marks are shared under the auth prefix', async () => {
      const [a, b] = await Promise.all([appWith(), appWith()]);
      const userId = user();
      const token = signAccessToken(key, { claims: { sub: userId, jti: 'j-shared' } });
      expect((await get(b, token)).statusCode).toBe(200);
      await a.revocation.revokeToken(userId, 'j-shared', nowS() + 900);
      expect((await get(b, token)).statusCode).toBe(401);
    });
  });

  describe('one Redis command for revocation and the limit', () => {
    it('when an authenticated request is served, then its revocation check and rate-limit step are one command', async () => {
      const app = await appWith();
      const userId = user();
      const token = signAccessToken(key, { claims: { sub: userId } });
      // The signature check is done (and cached) first, so only Redis is measured.
      expect((await get(app, token)).statusCode).toBe(200);
      const write = jest.spyOn(Socket.prototype, 'write');
      try {
        const res = await get(app, token);
        expect(res.statusCode).toBe(200);
        expect(write.mock.calls.filter(([chunk]) => String(chunk).includes(`{user:${userId}}`))).toHaveLength(1);
        expect(res.headers['ratelimit']).toBe('"default";r=98;t=2');
      } finally {
        write.mockRestore();
      }
    });

    it('when a route takes no rate limit, then a request only checks revocation and carries no fields', async () => {
      const app = await appWith();
      const res = await get(app, signAccessToken(key), '/v1/unlimited');
      expect(res.statusCode).toBe(200);
      expect(res.json().auth).not.toBeNull();
      expect(res.headers['ratelimit']).toBeUndefined();
    });
  });

  describe('a call another service vouches for (PEER_SECRET)', () => {
    // A budget that refills once in 36 s: the counts below do not move while a test runs.
    const policies = { default: { limit: 100, windowSeconds: 3_600, failMode: 'open' as const }, login: { limit: 5, windowSeconds: 30, failMode: 'closed' as const } };
    const secret = 'a'.repeat(40);
    const previous = 'b'.repeat(40);
    const as = (app: App, token: string, headers: Record<string, string>) =>
      app.inject({ method: 'GET', url: '/v1/echo', headers: { authorization: `Bearer ${token}`, ...headers } });
    /** The user's remaining budget, as a request that is not vouched for sees it (and takes one step). */
    const remaining = async (app: App, token: string) => Number(/;r=(\d+);/.exec(String((await get(app, token)).headers['ratelimit']))?.[1]);

    it('when a call names the secret, then the token is still verified and the user signed in, but no step is taken and no revocation mark read', async () => {
      const app = await appWith({ peerSecrets: [secret, previous], policies });
      const userId = user();
      const token = signAccessToken(key, { claims: { sub: userId, jti: 'j-vouched' } });
      const before = await remaining(app, token);
      // Both secrets of a rotation are accepted; the first is the one sent.
      for (const headers of [vouching([secret, previous]), { [PEER_HEADER]: previous }]) {
        const res = await as(app, token, headers);
        expect(res.statusCode).toBe(200);
        expect(res.json().auth).toMatchObject({ userId, tokenId: 'j-vouched' });
        expect(res.headers['ratelimit']).toBeUndefined();
      }
      expect(await remaining(app, token)).toBe(before - 1);
      // The vouching service checked revocation for this request; the call does not again.
      await app.revocation.revokeToken(userId, 'j-vouched', nowS() + 900);
      expect((await as(app, token, vouching([secret]))).statusCode).toBe(200);
      expect((await get(app, token)).statusCode).toBe(401);
    });

    it('when the token is missing or bad, then the secret changes nothing: 401', async () => {
      const app = await appWith({ peerSecrets: [secret] });
      expect((await app.inject({ method: 'GET', url: '/v1/echo', headers: vouching([secret]) })).statusCode).toBe(401);
      expect((await as(app, signAccessToken(stranger), vouching([secret]))).statusCode).toBe(401);
    });

    it('when the header names another value, or the service has no secret, then the call is admitted as any request: one step of the budget', async () => {
      const token = signAccessToken(key, { claims: { sub: user() } });
      for (const [app, headers] of [
        [await appWith({ peerSecrets: [secret], policies }), { [PEER_HEADER]: 'c'.repeat(40) }],
        [await appWith({ peerSecrets: [secret], policies }), { [PEER_HEADER]: secret.slice(1) }],
        [await appWith({ policies }), vouching([secret])],
      ] as const) {
        const before = await remaining(app, token);
        const res = await as(app, token, headers);
        expect(res.statusCode).toBe(200);
        expect(res.headers['ratelimit']).toBeDefined();
        expect(await remaining(app, token)).toBe(before - 2);
      }
    });

    it('when PEER_SECRET is the deployment files’ placeholder, then it is refused; unset, nothing is vouched for', () => {
      expect(() => peerSecrets('PLACEHOLDER-replace-me-with-a-random-secret-of-32-characters')).toThrow(/placeholder/);
      expect(peerSecrets(undefined)).toEqual([]);
      expect(vouching([])).toEqual({});
      expect(peerSecrets(`${secret}, ${previous}`)).toEqual([secret, previous]);
    });
  });

  describe('when Redis is down', () => {
    const dead = 'redis://127.0.0.1:1';

    it('when the fail mode is closed, then a valid token gets 503 DEPENDENCY_UNAVAILABLE', async () => {
      const app = await appWith({ redisUrl: dead, failMode: 'closed' });
      const res = await get(app, signAccessToken(key));
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    });

    it('when the fail mode is open, then a valid token passes on its signature alone, and a bad one is still 401', async () => {
      const app = await appWith({ redisUrl: dead, failMode: 'open' });
      expect((await get(app, signAccessToken(key))).statusCode).toBe(200);
      expect((await get(app, 'junk')).statusCode).toBe(401);
    });
  });

  it('when the OpenAPI document is read, then routes that need a token name the bearerAuth scheme, open ones none, with what each step answers', async () => {
    const app = await appWith();
    const doc = (await get(app, undefined, '/docs/json')).json();
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const { '/v1/echo': echo, '/v1/open': open, '/v1/auth/login': login, '/v1/unlimited': unlimited, '/internal/echo': internal, '/internal/opt-in': optIn } = doc.paths;
    expect(echo.get.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(echo.get.responses)).toEqual(expect.arrayContaining(['401', '429', '503']));
    expect(Object.keys(echo.get.responses['200'].headers)).toEqual(['x-request-id', 'RateLimit', 'RateLimit-Policy']);
    expect(Object.keys(echo.get.responses['401'].headers)).toEqual(['x-request-id', 'RateLimit', 'RateLimit-Policy', 'WWW-Authenticate']);
    expect(Object.keys(echo.get.responses['429'].headers)).toEqual(['x-request-id', 'RateLimit', 'RateLimit-Policy', 'Retry-After']);
    // Public, limited by the default policy, which fails open: no 401, no 503.
    expect(open.get.security).toEqual([]);
    expect(Object.keys(open.get.responses).sort()).toEqual(['200', '408', '429', '431']);
    // The login policy fails closed: 503 when Redis cannot be asked.
    expect(Object.keys(login.post.responses)).toEqual(expect.arrayContaining(['429', '503']));
    expect(Object.keys(unlimited.get.responses)).not.toContain('429');
    expect(Object.keys(unlimited.get.responses['200'].headers)).toEqual(['x-request-id']);
    expect(internal.get.security).toEqual([]);
    expect(Object.keys(internal.get.responses).sort()).toEqual(['200', '408', '431']);
    expect(Object.keys(optIn.get.responses).sort()).toEqual(['200', '408', '429', '431', '503']);
  });

  it('when a token is refused or accepted, then the log says why but never holds the token', async () => {
    const raw: string[] = [];
    const app = await appWith({ logStream: { write: (line: string) => raw.push(line) } });
    const bad = signAccessToken(key, { claims: { aud: 'another-platform' } });
    const good = signAccessToken(key);
    expect((await get(app, bad)).statusCode).toBe(401);
    expect((await get(app, good)).statusCode).toBe(200);
    expect(raw.map((line) => JSON.parse(line))).toContainEqual(expect.objectContaining({ msg: 'access token refused', reason: 'audience' }));
    for (const token of [bad, good]) {
      // Neither whole nor any of its three parts.
      for (const part of [token, ...token.split('.')]) expect(raw.join('')).not.toContain(part);
    }
  });
});
