import type { KeyObject } from 'node:crypto';
import { createVerifier, TokenError } from 'fast-jwt';
import type { KeySource } from './key-source';

/**
 * Access-token verification: the token format user-service issues (RFC 9068 `at+jwt`,
 * EdDSA over Ed25519, a `kid` naming a key of its JWKS). Revocation is not checked
 * here; the auth plugin asks Redis on every request.
 */

/** What was wrong with a token; short and safe to log, it never holds the token. */
export type InvalidTokenReason = 'malformed' | 'algorithm' | 'unknown key' | 'signature' | 'typ' | 'claims' | 'issuer' | 'audience' | 'expired' | 'not yet valid';

/** The token itself is bad: a 401, unlike a key source that cannot answer (503). */
export class InvalidTokenError extends Error {
  constructor(readonly reason: InvalidTokenReason) {
    super(`invalid access token: ${reason}`);
    this.name = 'InvalidTokenError';
  }
}

export interface VerifiedToken {
  userId: string;
  sessionId: string;
  tokenId: string;
  /** `exp`, in seconds since the epoch. */
  expiresAt: number;
  /** `iat_ms`: the exact issue time, which revocation cutoffs are compared with. */
  issuedAtMs: number;
}

export interface VerifierOptions {
  keys: KeySource;
  issuer: string;
  audience: string;
  /** Verified tokens remembered (VERIFIER_DEFAULTS.cacheSize); 0 verifies every token in full. */
  cacheSize?: number;
}

export type TokenVerifier = (token: string) => Promise<VerifiedToken>;

export const VERIFIER_DEFAULTS = Object.freeze({
  /** Verified tokens remembered; a hit skips the signature check, never the revocation check. */
  cacheSize: 10_000,
  /** A cached verification is trusted this long at most, so a key withdrawn from the JWKS stops working. */
  cacheTtlMs: 60_000,
  /** Instances' clocks differ a little; a token is not refused for a skew this small. */
  clockToleranceMs: 5_000,
});

const REQUIRED_CLAIMS = ['sub', 'sid', 'jti', 'iat', 'iat_ms', 'exp', 'iss', 'aud'];

/** fast-jwt wants PEM bytes, not a KeyObject; export each key once. */
const pemOf = new WeakMap<KeyObject, Buffer>();
function pem(key: KeyObject): Buffer {
  let bytes = pemOf.get(key);
  if (!bytes) {
    bytes = Buffer.from(key.export({ type: 'spki', format: 'pem' }));
    pemOf.set(key, bytes);
  }
  return bytes;
}

const REASON_BY_CODE: Readonly<Record<string, InvalidTokenReason>> = Object.freeze({
  [TokenError.codes.malformed]: 'malformed',
  [TokenError.codes.invalidPayload]: 'malformed',
  [TokenError.codes.invalidType]: 'typ',
  [TokenError.codes.invalidAlgorithm]: 'algorithm',
  [TokenError.codes.invalidKey]: 'algorithm',
  [TokenError.codes.missingSignature]: 'signature',
  [TokenError.codes.invalidSignature]: 'signature',
  [TokenError.codes.expired]: 'expired',
  [TokenError.codes.inactive]: 'not yet valid',
  [TokenError.codes.missingRequiredClaim]: 'claims',
  [TokenError.codes.invalidClaimType]: 'claims',
  [TokenError.codes.invalidCritHeader]: 'malformed',
});

/** fast-jwt's error as ours; a key source's own failure (503) passes through unchanged. */
function translate(err: unknown): unknown {
  if (!(err instanceof TokenError)) return err;
  const original: unknown = err['originalError'];
  if (err.code === TokenError.codes.keyFetchingError && original !== undefined) return original;
  if (err.code === TokenError.codes.invalidClaimValue) {
    // Only iss and aud have allowed values here; the message names the claim.
    return new InvalidTokenError(/\baud\b/.test(err.message) ? 'audience' : /\biss\b/.test(err.message) ? 'issuer' : 'claims');
  }
  return new InvalidTokenError(REASON_BY_CODE[err.code] ?? 'malformed');
}

/**
 * Tokens that verified, by the whole token string (an exact match, no digest to collide or to
 * compute: fast-jwt's own cache hashed every token with SHA-256, a twentieth of a cached read's
 * CPU). An entry is dropped once its token expires, so an expired token always meets the full
 * check and its `expired` answer; and after cacheTtlMs, so a key withdrawn from the JWKS stops
 * working. The oldest entry goes first when it is full.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, { verified: VerifiedToken; until: number }>();

  constructor(
    private readonly size: number,
    private readonly ttlMs: number,
  ) {}

  get(token: string, now: number): VerifiedToken | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (entry.until > now) return entry.verified;
    this.entries.delete(token);
    return undefined;
  }

  set(token: string, verified: VerifiedToken, now: number): void {
    if (this.size === 0) return;
    if (this.entries.size >= this.size) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    const expires = verified.expiresAt * 1000 + VERIFIER_DEFAULTS.clockToleranceMs;
    this.entries.set(token, { verified, until: Math.min(now + this.ttlMs, expires) });
  }
}

const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 128;
const USER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createTokenVerifier(opts: VerifierOptions): TokenVerifier {
  const verify = createVerifier({
    algorithms: ['EdDSA'],
    allowedIss: opts.issuer,
    allowedAud: opts.audience,
    checkTyp: 'at+jwt',
    requiredClaims: REQUIRED_CLAIMS,
    // Verified tokens are cached below, ahead of fast-jwt.
    cache: false,
    clockTolerance: VERIFIER_DEFAULTS.clockToleranceMs,
    key: async ({ header }: { header: { alg?: unknown; kid?: unknown } }) => {
      // Checked before any lookup, so a forged header cannot make us fetch the JWKS.
      if (header.alg !== 'EdDSA') throw new InvalidTokenError('algorithm');
      if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 128) throw new InvalidTokenError('unknown key');
      const key = await opts.keys.key(header.kid);
      if (!key) throw new InvalidTokenError('unknown key');
      return pem(key);
    },
  });

  const verified = new VerifiedTokens(opts.cacheSize ?? VERIFIER_DEFAULTS.cacheSize, VERIFIER_DEFAULTS.cacheTtlMs);

  return async (token: string): Promise<VerifiedToken> => {
    const known = verified.get(token, Date.now());
    if (known) return known;
    let claims: Record<string, unknown>;
    try {
      claims = (await verify(token)) as Record<string, unknown>;
    } catch (err) {
      throw translate(err);
    }
    const { sub, sid, jti, iat, iat_ms: issuedAtMs, exp } = claims;
    // `sub` is a user id, a UUID: anything else was not issued for a user of ours.
    if (typeof sub !== 'string' || !USER_ID.test(sub) || !isId(sid) || !isId(jti) || !Number.isSafeInteger(issuedAtMs) || !Number.isSafeInteger(exp)) {
      throw new InvalidTokenError('claims');
    }
    // iat is iat_ms in whole seconds; a token where they disagree was not made by our issuer.
    if (iat !== Math.floor((issuedAtMs as number) / 1000)) throw new InvalidTokenError('claims');
    // Issued in the future beyond the clocks' tolerance: it would outlive a logout-all cutoff set now.
    if ((issuedAtMs as number) > Date.now() + VERIFIER_DEFAULTS.clockToleranceMs) throw new InvalidTokenError('not yet valid');
    const result = Object.freeze({ userId: sub, sessionId: sid, tokenId: jti, expiresAt: exp as number, issuedAtMs: issuedAtMs as number });
    verified.set(token, result, Date.now());
    return result;
  };
}
