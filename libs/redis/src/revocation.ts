import { Cluster } from 'ioredis';
import type { Registry } from 'prom-client';
import type { RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import type { KeySpace } from './keys';
import { lossMarker } from './loss-marker';
import { counter } from './metrics';
import { defineScripts, logThrottle } from './scripts';

/**
 * Access-token revocation: one token by its `jti`, every token of one sign-in session by
 * its `sid` (sign out, a refresh family found reused), or every token of a user issued up
 * to a moment (sign out everywhere, password change). The keys of a user share a hash
 * tag, so a check reads all three with one MGET: one round trip, on Redis Cluster too.
 */

export type FailMode = 'open' | 'closed';

/** Anything with pino's `warn(obj, msg)`, e.g. `app.log`. */
export interface WarnLogger {
  warn(obj: object, msg: string): void;
}

export interface RevocationOptions {
  client: RedisClient;
  keys: KeySpace;
  /** When Redis cannot answer a check: `closed` throws RedisUnavailableError, `open` answers "not revoked". */
  failMode?: FailMode;
  /** How long a per-user cutoff is kept: at least the refresh-token lifetime, so no older token outlives it. */
  cutoffTtlSeconds?: number;
  registry?: Registry;
  logger?: WarnLogger;
}

export interface RevocationQuery {
  userId: string;
  jti: string;
  sessionId: string;
  /**
   * When the token was issued, in milliseconds: a cutoff set earlier in the same second
   * must not revoke it, so a whole-second `iat` is not precise enough.
   */
  issuedAtMs: number;
}

export interface Revocation {
  /** Revokes one token; the mark lives until the token would have expired anyway. */
  revokeToken(userId: string, jti: string, expiresAtSeconds: number): Promise<void>;
  /**
   * Revokes every access token of one sign-in session; the mark lives until `untilSeconds`
   * (epoch s): now + the access-token lifetime covers every token the session issued.
   */
  revokeSession(userId: string, sessionId: string, untilSeconds: number): Promise<void>;
  /** Revokes every token of the user issued at or before `atMs`; returns the cutoff in force. */
  revokeAllBefore(userId: string, atMs?: number): Promise<number>;
  /**
   * The user's cutoff in ms, or null for none. An issuer stamps new tokens later than it,
   * so a token issued just after a sign-out-everywhere by an instance whose clock is
   * behind is not born revoked. Throws RedisUnavailableError whatever the fail mode.
   */
  cutoff(userId: string): Promise<number | null>;
  isRevoked(query: RevocationQuery): Promise<boolean>;
  /**
   * The check as part of another script (request-guard.ts): the keys it reads with one MGET,
   * in this order, and `decide` on their values. With `failure`, Redis could not answer
   * (the fail mode decides: `closed` throws RedisUnavailableError).
   */
  prepare(query: RevocationQuery): { keys: readonly string[]; decide(values: (string | null)[] | undefined, failure?: unknown): boolean };
  /**
   * The marker user-service keeps while Redis holds every revocation still in force. Redis can
   * lose them all at once (FLUSHALL, a restart without persistence), and with them the marker; a
   * failover can lose the last ones while the marker survives, so its value names the primary it
   * was written on (loss-marker.ts): `touch` extends it and answers whether it is there for the
   * current primary, `set` writes it for the current primary.
   */
  marker: {
    touch(ttlSeconds: number): Promise<boolean>;
    set(ttlSeconds: number): Promise<void>;
  };
  /**
   * Reads the marker and settles whether checks trust Redis: once a marker was seen, a missing one
   * or one written on another primary makes every check answer as if Redis could not be asked, so
   * the fail mode decides (`closed` refuses, 503) rather than accept a token revoked before the
   * loss, until user-service has written the marks and the marker back. Answers whether the marker
   * is there for the current primary; undefined when a reconnection overtook the read.
   * Every (re)connection of the client distrusts Redis until this has run on it: the new connection
   * may reach a promoted replica that still holds the old primary's marker.
   */
  checkMarker(): Promise<boolean | undefined>;
  /** Whether checks trust Redis now (see checkMarker). */
  readonly trusted: boolean;
}

export const REVOCATION_DEFAULTS = Object.freeze({
  failMode: 'closed' as FailMode,
  cutoffTtlSeconds: 30 * 24 * 3600,
});

/**
 * Raises a user's cutoff, never lowers it: two sign-outs racing, or a retried older
 * one, must not bring back tokens the later one revoked.
 */
const RAISE_CUTOFF_LUA = `
-- KEYS[1]: the user's cutoff (ms since the epoch)
-- ARGV[1]: the new cutoff, ARGV[2]: TTL in seconds
local current = tonumber(redis.call('GET', KEYS[1]))
local cutoff = tonumber(ARGV[1])
if current ~= nil and current > cutoff then cutoff = current end
-- The TTL restarts either way: the cutoff must outlive every token issued before it.
redis.call('SET', KEYS[1], string.format('%d', cutoff), 'EX', ARGV[2])
return string.format('%d', cutoff)
`;

const RAISE_CUTOFF = 'platformRevocationRaiseCutoff';

type WithRaiseCutoff = { [RAISE_CUTOFF](key: string, cutoffMs: string, ttlSeconds: number): Promise<string> };


export function createRevocation(opts: RevocationOptions): Revocation {
  const { client, keys } = opts;
  const failMode = opts.failMode ?? REVOCATION_DEFAULTS.failMode;
  const cutoffTtlSeconds = opts.cutoffTtlSeconds ?? REVOCATION_DEFAULTS.cutoffTtlSeconds;
  const scripts = defineScripts<WithRaiseCutoff>(client, { [RAISE_CUTOFF]: { numberOfKeys: 1, lua: RAISE_CUTOFF_LUA } });
  const checks = counter(opts.registry, 'revocation_checks_total', 'Token revocation checks by result.', ['result']);
  const failures = counter(opts.registry, 'revocation_redis_errors_total', 'Revocation checks Redis could not answer, by fail mode.', [
    'fail_mode',
  ]);
  const throttle = logThrottle();
  let trusted = true;
  /** Whether this instance has seen user-service's marker (its own primary's or another's): only then does its absence mean a loss. */
  let markerSeen = false;
  /** The marker's value checkMarker found written on the primary this client is connected to. */
  let accepted: string | undefined;
  /** Counts (re)connections: a marker read that one overtook says nothing of the new server. */
  let connections = 0;
  // On a standalone Redis the marker is read in the same MGET as the marks, so a loss shows on the
  // very next check; a cluster refuses an MGET across slots, and there only the watcher sees it.
  const markerInline = !(client instanceof Cluster);

  const markerKey = keys.revocationMarker();
  const marker = lossMarker(client, markerKey);
  // Only the marker's checker needs to know of reconnections: listen from its first check on.
  let listening = false;
  const onConnection = () => {
    connections++;
    accepted = undefined;
    if (markerSeen) trusted = false;
  };

  function failed(err: unknown): boolean {
    failures.inc({ fail_mode: failMode });
    checks.inc({ result: 'error' });
    const { log, suppressed } = throttle();
    if (log) opts.logger?.warn({ err, failMode, suppressed }, 'revocation check failed: Redis unavailable');
    if (failMode === 'closed') throw new RedisUnavailableError('revocation check', { cause: err });
    return false;
  }

  async function write<T>(operation: string, run: () => Promise<T>): Promise<T> {
    // A revocation that did not happen must be reported whatever the fail mode.
    try {
      return await run();
    } catch (err) {
      throw new RedisUnavailableError(operation, { cause: err });
    }
  }

  return Object.freeze({
    async revokeToken(userId: string, jti: string, expiresAtSeconds: number): Promise<void> {
      // An expired token is refused by its signature check; nothing to keep.
      if (expiresAtSeconds * 1000 <= Date.now()) return;
      await write('revoke token', () => client.set(keys.revokedToken(userId, jti), '1', 'EXAT', Math.ceil(expiresAtSeconds)));
    },

    async revokeSession(userId: string, sessionId: string, untilSeconds: number): Promise<void> {
      if (untilSeconds * 1000 <= Date.now()) return;
      await write('revoke session', () => client.set(keys.revokedSession(userId, sessionId), '1', 'EXAT', Math.ceil(untilSeconds)));
    },

    async revokeAllBefore(userId: string, atMs: number = Date.now()): Promise<number> {
      const cutoff = await write('revoke all tokens', () =>
        scripts[RAISE_CUTOFF](keys.revokedBefore(userId), String(Math.floor(atMs)), cutoffTtlSeconds),
      );
      return Number(cutoff);
    },

    async cutoff(userId: string): Promise<number | null> {
      const value = await write('read revocation cutoff', () => client.get(keys.revokedBefore(userId)));
      return value == null ? null : Number(value);
    },

    async isRevoked(query: RevocationQuery): Promise<boolean> {
      if (!trusted && !markerInline) return failed(lostMarks());
      let values: (string | null)[];
      try {
        values = await client.mget(...keysOf(query));
      } catch (err) {
        return failed(err);
      }
      return decide(values, query.issuedAtMs);
    },

    prepare(query: RevocationQuery) {
      return {
        keys: keysOf(query),
        decide: (values: (string | null)[] | undefined, failure?: unknown) => {
          if (!trusted && !markerInline) return failed(lostMarks());
          return failure !== undefined || values === undefined ? failed(failure ?? new Error('no answer')) : decide(values, query.issuedAtMs);
        },
      };
    },

    marker: Object.freeze({ touch: marker.touch, set: marker.set }),

    async checkMarker(): Promise<boolean | undefined> {
      if (!listening) client.on('ready', onConnection);
      listening = true;
      const at = connections;
      const found = await marker.current();
      if (at !== connections) return undefined;
      if (found.state === 'current') {
        accepted = found.value;
        markerSeen = true;
        trusted = true;
        return true;
      }
      accepted = undefined;
      // A marker naming another primary says user-service keeps one on this Redis and has not
      // written it since a failover: marks may be lost, also for an instance that never saw it before.
      if (found.state === 'elsewhere') markerSeen = true;
      if (markerSeen) trusted = false;
      return false;
    },

    get trusted() {
      return trusted;
    },
  });

  function lostMarks(): Error {
    return new Error('Redis lost the revocation marks; waiting for user-service to write them back');
  }

  /** In the order `decide` reads them. */
  function keysOf({ userId, jti, sessionId }: RevocationQuery): readonly string[] {
    const marks = [keys.revokedToken(userId, jti), keys.revokedSession(userId, sessionId), keys.revokedBefore(userId)];
    return markerInline ? [...marks, markerKey] : marks;
  }

  function decide([token, session, cutoff, marker]: (string | null)[], issuedAtMs: number): boolean {
    if (markerInline && markerSeen) {
      // Only the value checkMarker found on this connection's primary: a marker that vanished
      // (a flush) or changed (written again after a failover) is not trusted until it has been checked.
      if (marker == null || marker !== accepted) {
        trusted = false;
        return failed(lostMarks());
      }
      trusted = true;
    }
    const revoked = token != null || session != null || (cutoff != null && issuedAtMs <= Number(cutoff));
    checks.inc({ result: revoked ? 'revoked' : 'valid' });
    return revoked;
  }
}
