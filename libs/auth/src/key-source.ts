import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { DependencyUnavailableError } from '@platform/service-kit';
import { request, type Dispatcher } from 'undici';
import { JWKS_DEFAULTS } from './config';

/** Where the verifier finds the public key a token names in its `kid`. */
export interface KeySource {
  /** The key, or undefined when no such key is published. */
  key(kid: string): Promise<KeyObject | undefined>;
}

/** Anything with pino's `warn(obj, msg)`, e.g. `app.log`. */
export interface KeySourceLogger {
  warn(obj: object, msg: string): void;
}

export interface JwksKeySourceOptions {
  /** user-service's `/.well-known/jwks.json`. */
  url: string;
  /** The HTTP client the fetch goes through, whose timeouts bound it: the service's `app.peers`. */
  dispatcher: Dispatcher;
  minRefetchIntervalMs?: number;
  maxAgeMs?: number;
  logger?: KeySourceLogger;
}

/** user-service verifies its own tokens with the keys it holds: no HTTP to itself. */
export function staticKeySource(getKeys: () => ReadonlyMap<string, KeyObject>): KeySource {
  return Object.freeze({ key: async (kid: string) => getKeys().get(kid) });
}

/** Ed25519 signing keys only: anything else in the set is not ours to trust. */
function keysOf(body: unknown): Map<string, KeyObject> {
  const list = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new Error('the JWKS has no keys array');
  const keys = new Map<string, KeyObject>();
  for (const jwk of list as (JsonWebKey & { kid?: unknown; use?: unknown })[]) {
    if (jwk?.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.kid !== 'string' || (jwk.use !== undefined && jwk.use !== 'sig')) continue;
    try {
      keys.set(jwk.kid, createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' }));
    } catch {
      // A broken entry must not cost the good ones.
    }
  }
  return keys;
}

/**
 * The keys of user-service's JWKS, fetched through the service's keep-alive client (its
 * timeouts bound the fetch) and cached by kid. Refresh is
 * lazy, with no timer to stop: a known key older than `maxAgeMs` is served at once while
 * one fetch in the background renews the set (so a key removed from the JWKS stops
 * verifying within `maxAgeMs`); an unknown kid waits for a fetch, at most one per
 * `minRefetchIntervalMs`, so rotation is seen at once and a flood of made-up kids costs
 * one fetch per interval. Concurrent callers share one fetch. When the set cannot be
 * fetched, the keys already known stay in use; with none known, key() throws
 * DependencyUnavailableError (a 503: the caller's token may be fine, we cannot tell).
 */
export function jwksKeySource(opts: JwksKeySourceOptions): KeySource {
  const minRefetchIntervalMs = opts.minRefetchIntervalMs ?? JWKS_DEFAULTS.minRefetchIntervalMs;
  const maxAgeMs = opts.maxAgeMs ?? JWKS_DEFAULTS.maxAgeMs;
  let keys = new Map<string, KeyObject>();
  let fetchedAt = -Infinity;
  let attemptedAt = -Infinity;
  let lastError: unknown;
  let inFlight: Promise<void> | undefined;

  async function load(): Promise<void> {
    const res = await request(opts.url, { dispatcher: opts.dispatcher, headers: { accept: 'application/json' } });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`the JWKS answered ${res.statusCode}`);
    }
    keys = keysOf(await res.body.json());
    fetchedAt = Date.now();
  }

  /** One fetch at a time; callers arriving meanwhile share it. Never rejects. */
  function refresh(): Promise<void> {
    if (inFlight) return inFlight;
    attemptedAt = Date.now();
    inFlight = load()
      .then(() => {
        lastError = undefined;
      })
      .catch((err: unknown) => {
        lastError = err;
        opts.logger?.warn({ err, url: opts.url, knownKeys: keys.size }, 'JWKS fetch failed');
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  return Object.freeze({
    async key(kid: string): Promise<KeyObject | undefined> {
      const now = Date.now();
      const known = keys.get(kid);
      if (known) {
        if (now - fetchedAt > maxAgeMs && now - attemptedAt >= minRefetchIntervalMs) void refresh();
        return known;
      }
      if (inFlight) await inFlight;
      else if (now - attemptedAt >= minRefetchIntervalMs) await refresh();
      const found = keys.get(kid);
      if (!found && keys.size === 0 && lastError !== undefined) {
        throw new DependencyUnavailableError('user-service jwks', { cause: lastError });
      }
      return found;
    },
  });
}

/** The keys of user-service, which issues every access token, from its published JWKS, fetched through `dispatcher` (`app.peers`). */
export function userServiceKeys(userServiceUrl: string, dispatcher: Dispatcher, logger?: KeySourceLogger): KeySource {
  return jwksKeySource({ url: new URL('/.well-known/jwks.json', userServiceUrl).toString(), dispatcher, logger });
}
