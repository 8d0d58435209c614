import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * The Ed25519 keys access tokens are signed with. From JWT_SIGNING_KEYS when set (a JSON
 * array of private JWKs: the first signs, all are published, so a new key can be added in
 * front and an old one dropped once its tokens have expired). Unset (development), the first
 * instance makes a key and stores it in MySQL, and every instance signs with that one.
 */
export interface KeyRing {
  signing: { kid: string; privatePem: string };
  /** Every live key by kid, to verify with. */
  verifying: ReadonlyMap<string, KeyObject>;
  /** The public keys as a JWK Set (RFC 7517). */
  jwks: { keys: PublicJwk[] };
}

export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The key ring, loaded once; rejects (503) while MySQL cannot give the development key. */
    signingKeys(): Promise<KeyRing>;
  }
}

const KID = /^[A-Za-z0-9._-]{1,64}$/;

/** RFC 7638 thumbprint: a kid derived from the key itself. */
function thumbprint(x: string): string {
  return createHash('sha256').update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x })).digest('base64url');
}

function parseKey(jwk: JsonWebKey & { kid?: unknown }, where: string): { kid: string; privateKey: KeyObject } {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string' || typeof jwk.x !== 'string') {
    throw new Error(`${where} must be an Ed25519 private JWK (kty OKP, crv Ed25519, d, x)`);
  }
  const kid = jwk.kid ?? thumbprint(jwk.x);
  if (typeof kid !== 'string' || !KID.test(kid)) throw new Error(`${where} has a kid that is not 1-64 of [A-Za-z0-9._-]`);
  return { kid, privateKey: createPrivateKey({ key: jwk, format: 'jwk' }) };
}

export function keyRingOf(keys: { kid: string; privateKey: KeyObject }[]): KeyRing {
  const [first] = keys;
  if (!first) throw new Error('no signing key');
  if (new Set(keys.map((k) => k.kid)).size !== keys.length) throw new Error('two signing keys share a kid');
  const verifying = new Map(keys.map((k) => [k.kid, createPublicKey(k.privateKey)] as const));
  const jwks = [...verifying].map(([kid, key]) => {
    const { x } = key.export({ format: 'jwk' });
    return { kty: 'OKP', crv: 'Ed25519', x: x as string, kid, alg: 'EdDSA', use: 'sig' } as const;
  });
  return {
    signing: { kid: first.kid, privatePem: first.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() },
    verifying,
    jwks: { keys: jwks },
  };
}

/** JWT_SIGNING_KEYS as a key ring; throws a message that names the variable, never a key. */
export function parseSigningKeys(json: string): KeyRing {
  let list: unknown;
  try {
    list = JSON.parse(json);
  } catch {
    throw new Error('JWT_SIGNING_KEYS is not valid JSON');
  }
  if (!Array.isArray(list) || list.length === 0) throw new Error('JWT_SIGNING_KEYS must be a non-empty JSON array of private JWKs');
  return keyRingOf(list.map((jwk, i) => parseKey(jwk as JsonWebKey, `JWT_SIGNING_KEYS[${i}]`)));
}

/** The development key: read it, or make it, racing other instances through the unique `purpose`. */
async function developmentKey(app: FastifyInstance): Promise<KeyRing> {
  const read = async () => (await app.db.query("SELECT private_jwk FROM signing_keys WHERE purpose = 'development'")) as { private_jwk: string }[];
  let rows = await read();
  if (rows.length === 0) {
    const { privateKey } = generateKeyPairSync('ed25519');
    const jwk = privateKey.export({ format: 'jwk' });
    const kid = thumbprint(jwk.x as string);
    await app.db.query("INSERT IGNORE INTO signing_keys (kid, purpose, private_jwk, created_at) VALUES (?, 'development', ?, ?)", [
      kid,
      JSON.stringify({ ...jwk, kid }),
      new Date(),
    ]);
    rows = await read();
  }
  const [row] = rows;
  if (!row) throw new Error('the development signing key could not be stored');
  return keyRingOf([parseKey(JSON.parse(row.private_jwk) as JsonWebKey, 'the stored development key')]);
}

async function signingKeysPlugin(app: FastifyInstance, opts: { configured?: string }): Promise<void> {
  const configured = opts.configured ? parseSigningKeys(opts.configured) : undefined;
  let loading: Promise<KeyRing> | undefined;
  const load = (): Promise<KeyRing> => {
    if (configured) return Promise.resolve(configured);
    // A failure (MySQL down) is not kept: the next call tries again.
    return (loading ??= developmentKey(app).catch((err: unknown) => {
      loading = undefined;
      throw err;
    }));
  };
  app.decorate('signingKeys', load);
  if (!configured) {
    app.log.warn('JWT_SIGNING_KEYS is not set: signing with a development key kept in MySQL');
    await load().catch((err: unknown) => app.log.warn({ err }, 'development signing key not loaded yet; retrying on first use'));
  }
}

export const signingKeys = fp(signingKeysPlugin, { name: 'signing-keys', dependencies: ['mysql'] });
