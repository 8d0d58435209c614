import { generateKeyPairSync, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createSigner } from 'fast-jwt';
import { v7 as uuidv7 } from 'uuid';

/**
 * Access tokens exactly as user-service issues them (header `{alg: EdDSA, typ: at+jwt,
 * kid}`; claims iss, aud, sub, sid, jti, iat, iat_ms, exp), signed with a key made in
 * the test, plus the means to break them one way at a time.
 */

export interface TestSigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as a JWKS entry: `{kty: OKP, crv: Ed25519, x, kid, alg: EdDSA, use: sig}`. */
  jwk: JsonWebKey & { kid: string; alg: 'EdDSA'; use: 'sig' };
}

export function generateSigningKey(kid: string = randomUUID()): TestSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'EdDSA' as const, use: 'sig' as const };
  return { kid, privateKey, publicKey, jwk };
}

export interface AccessTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  iat_ms: number;
  exp: number;
}

export interface SignOptions {
  /** Claims to set or override; iat follows iat_ms unless given. */
  claims?: Partial<AccessTokenClaims> & Record<string, unknown>;
  /** Claims to leave out. */
  omit?: (keyof AccessTokenClaims)[];
  /** Header members to set or override, e.g. `{ typ: 'JWT' }` or another `kid`. */
  header?: Record<string, unknown>;
  /** Access-token lifetime when `exp` is not given. */
  ttlSeconds?: number;
}

export const TEST_ISSUER = 'user-service';
export const TEST_AUDIENCE = 'order-platform';

export function accessTokenClaims(opts: SignOptions = {}): Record<string, unknown> {
  const issuedAtMs = opts.claims?.iat_ms ?? Date.now();
  const iat = Math.floor(issuedAtMs / 1000);
  const claims: Record<string, unknown> = {
    iss: TEST_ISSUER,
    aud: TEST_AUDIENCE,
    sub: randomUUID(),
    sid: randomUUID(),
    jti: uuidv7(),
    iat,
    iat_ms: issuedAtMs,
    exp: iat + (opts.ttlSeconds ?? 900),
    ...opts.claims,
  };
  for (const name of opts.omit ?? []) delete claims[name];
  return claims;
}

/** A token as user-service signs it, with `opts` applied. */
export function signAccessToken(key: TestSigningKey, opts: SignOptions = {}): string {
  const claims = accessTokenClaims(opts);
  const sign = createSigner({
    key: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    algorithm: 'EdDSA',
    kid: key.kid,
    // fast-jwt writes iat from the payload's own, or drops it when told there is none.
    noTimestamp: claims['iat'] === undefined,
    header: { alg: 'EdDSA', typ: 'at+jwt', ...opts.header },
  });
  return sign(claims);
}

const b64url = (value: Buffer | string) => Buffer.from(value).toString('base64url');

/** A token from raw parts, for forgeries: `sign` gets the signing input and returns the signature bytes. */
export function encodeToken(header: Record<string, unknown>, claims: Record<string, unknown>, sign: (input: string) => Buffer = () => Buffer.alloc(0)): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign(input))}`;
}

/** A key source holding these keys, as user-service's own `staticKeySource`. */
export function staticKeys(keys: TestSigningKey[]): { key(kid: string): Promise<KeyObject | undefined> } {
  const byKid = new Map(keys.map((k) => [k.kid, k.publicKey]));
  return { key: async (kid: string) => byKid.get(kid) };
}
