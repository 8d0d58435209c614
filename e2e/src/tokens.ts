import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { Topology } from './platform';

/**
 * Access tokens that every service must refuse with 401 (CONTRACT.md, Authentication), each
 * made from a genuine one so that exactly one thing is wrong with it. No JWT library: the
 * attacks are a few lines of node:crypto, and a library would refuse to make some of them.
 */
export type BadToken = 'algNone' | 'hs256WithPublicKey' | 'unknownKid' | 'tamperedPayload' | 'wrongIssuer' | 'wrongAudience' | 'expired' | 'issuedInTheFuture' | 'subNotAUserId';

type Json = Record<string, unknown>;

const encode = (part: Json) => Buffer.from(JSON.stringify(part)).toString('base64url');
const decode = (part: string | undefined): Json => JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as Json;

/** The header and claims of a compact JWS. */
export function parts(token: string): { header: Json; claims: Json; signature: string } {
  const [header, claims, signature] = token.split('.');
  return { header: decode(header), claims: decode(claims), signature: signature ?? '' };
}

/** EdDSA over Ed25519, as user-service signs (node:crypto takes no digest for it). */
function signEd25519(header: Json, claims: Json, key: KeyObject): string {
  const input = `${encode(header)}.${encode(claims)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

/**
 * The real token's header and claims with `changes` applied, signed with the platform's own
 * private key (topology.local.signingKey): a token that is wrong only where `changes` say.
 * Undefined when the suite runs against given base URLs, whose key it cannot know.
 */
export function reSigned(topology: Topology, real: string, changes: Json = {}): string | undefined {
  const jwk = topology.local?.signingKey;
  if (!jwk) return undefined;
  const { header, claims } = parts(real);
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  return signEd25519({ ...header, kid: jwk.kid }, { ...claims, ...changes }, key);
}

/** The public key the real token names, as the JWKS publishes it, in PEM: the classic HMAC secret. */
async function publishedKeyPem(topology: Topology, kid: unknown): Promise<string> {
  const res = await fetch(`${topology.user[0]}/.well-known/jwks.json`, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`the JWKS answered ${res.status}`);
  const { keys } = (await res.json()) as { keys: (Json & { kid?: string })[] };
  const jwk = keys.find((k) => k.kid === kid) ?? keys[0];
  if (!jwk) throw new Error('the JWKS lists no key');
  return createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString();
}

/** Every kind of bad token, made from `real` (a genuine access token); those that need the signing key are undefined without topology.local. */
export async function badTokens(topology: Topology, real: string): Promise<Record<BadToken, string | undefined>> {
  const { header, claims, signature } = parts(real);
  const [rawHeader] = real.split('.');
  const now = Math.floor(Date.now() / 1000);

  const hsInput = `${encode({ ...header, alg: 'HS256' })}.${encode(claims)}`;
  const hsSecret = await publishedKeyPem(topology, header['kid']);
  const stranger = generateKeyPairSync('ed25519').privateKey;
  const otherSub = randomUUID();

  return {
    algNone: `${encode({ ...header, alg: 'none' })}.${encode(claims)}.`,
    hs256WithPublicKey: `${hsInput}.${createHmac('sha256', hsSecret).update(hsInput).digest('base64url')}`,
    unknownKid: signEd25519({ ...header, kid: `unknown-${randomUUID()}` }, claims, stranger),
    tamperedPayload: `${rawHeader}.${encode({ ...claims, sub: otherSub })}.${signature}`,
    wrongIssuer: reSigned(topology, real, { iss: `not-${String(claims['iss'])}` }),
    wrongAudience: reSigned(topology, real, { aud: `not-${String(claims['aud'])}` }),
    // An hour past: far beyond any clock tolerance.
    expired: reSigned(topology, real, { exp: now - 3_600 }),
    // Issued an hour from now, valid for 15 minutes from then: it would outlive a logout-all cutoff set today.
    issuedInTheFuture: reSigned(topology, real, { iat: now + 3_600, iat_ms: (now + 3_600) * 1000, exp: now + 4_500 }),
    subNotAUserId: reSigned(topology, real, { sub: 'admin' }),
  };
}
