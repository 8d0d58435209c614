import { createHmac, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { App } from '@platform/service-kit';
import { createSigner } from 'fast-jwt';
import { v7 as uuidv7 } from 'uuid';
import { build, me, signUpAndIn } from './helper';

/** Two configured keys: the first signs, both are published (rotation). */
const first = generateKeyPairSync('ed25519');
const second = generateKeyPairSync('ed25519');
const jwk = (k: KeyObject, kid: string) => ({ ...k.export({ format: 'jwk' }), kid });
const SIGNING_KEYS = JSON.stringify([jwk(first.privateKey, 'key-2026-11'), jwk(second.privateKey, 'key-2026-10')]);

let app: App;
beforeAll(async () => {
  app = await build({ JWT_SIGNING_KEYS: SIGNING_KEYS });
});
afterAll(() => app.close());

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const pem = (k: KeyObject) => k.export({ format: 'pem', type: 'pkcs8' }).toString();

function claims(userId: string, over: Record<string, unknown> = {}) {
  const now = Date.now();
  return { sub: userId, sid: uuidv7(), jti: uuidv7(), iat: Math.floor(now / 1000), iat_ms: now, exp: Math.floor(now / 1000) + 600, iss: 'user-service', aud: 'order-platform', ...over };
}

function sign(payload: object, key: KeyObject = first.privateKey, kid = 'key-2026-11'): string {
  return createSigner({ key: pem(key), algorithm: 'EdDSA', kid, header: { alg: 'EdDSA', typ: 'at+jwt' } })(payload as Record<string, unknown>);
}

describe('access tokens', () => {
  it('when a token is signed with either published key, then it is accepted (rotation: all live keys verify)', async () => {
    const { user } = await signUpAndIn(app);
    expect((await me(app, sign(claims(user.id)))).statusCode).toBe(200);
    expect((await me(app, sign(claims(user.id), second.privateKey, 'key-2026-10'))).statusCode).toBe(200);
  });

  it('when user-service signs, then it uses the first configured key', async () => {
    const { pair } = await signUpAndIn(app);
    expect(JSON.parse(Buffer.from(pair.accessToken.split('.')[0] as string, 'base64url').toString()).kid).toBe('key-2026-11');
  });

  describe('forged or unfit tokens are refused with 401', () => {
    let userId: string;
    let valid: string;
    beforeAll(async () => {
      userId = (await signUpAndIn(app)).user.id;
      valid = sign(claims(userId));
    });

    const publicPem = () => createPublicKey(first.privateKey).export({ format: 'pem', type: 'spki' }).toString();
    const cases: [string, () => string][] = [
      ['alg none', () => `${b64({ alg: 'none', typ: 'at+jwt', kid: 'key-2026-11' })}.${b64(claims(userId))}.`],
      [
        'HS256 signed with the public key as the secret',
        () => {
          const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: 'key-2026-11' })}.${b64(claims(userId))}`;
          return `${input}.${createHmac('sha256', publicPem()).update(input).digest('base64url')}`;
        },
      ],
      [
        'a tampered payload',
        () => {
          const [h, , s] = valid.split('.');
          return `${h}.${b64(claims(uuidv7()))}.${s}`;
        },
      ],
      ['a wrong aud', () => sign(claims(userId, { aud: 'another-platform' }))],
      ['a wrong iss', () => sign(claims(userId, { iss: 'someone-else' }))],
      ['an expired one', () => sign(claims(userId, { iat: Math.floor(Date.now() / 1000) - 1000, exp: Math.floor(Date.now() / 1000) - 10 }))],
      ['an unknown kid', () => sign(claims(userId), first.privateKey, 'no-such-key')],
      ['a stranger key under a known kid', () => sign(claims(userId), generateKeyPairSync('ed25519').privateKey)],
      ['no sid', () => sign({ ...claims(userId), sid: undefined })],
      ['no iat_ms', () => sign({ ...claims(userId), iat_ms: undefined })],
      ['a JWT typ instead of at+jwt', () => createSigner({ key: pem(first.privateKey), algorithm: 'EdDSA', kid: 'key-2026-11' })(claims(userId))],
    ];

    it.each(cases)('when the token has %s, then 401', async (_case, token) => {
      const res = await me(app, token());
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ code: 'UNAUTHORIZED' });
      expect(res.headers['www-authenticate']).toMatch(/^Bearer .*invalid_token/);
    });
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('when asked, then every live public key is listed by kid, with no private part', async () => {
    const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    const { keys } = res.json() as { keys: Record<string, string>[] };
    expect(keys.map((k) => k['kid'])).toEqual(['key-2026-11', 'key-2026-10']);
    for (const k of keys) {
      expect(k).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(k['d']).toBeUndefined();
    }
    expect(keys[0]?.['x']).toBe(first.publicKey.export({ format: 'jwk' }).x);
  });
});
