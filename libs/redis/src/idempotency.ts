import { createHash, randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import type { KeySpace } from './keys';
import { counter } from './metrics';
import { defineScripts, type ScriptDefinition } from './scripts';

/**
 * Idempotency records (CONTRACT.md "Idempotency keys"). One Redis hash per (scope, key)
 * holds the request's fingerprint and either an in-flight owner token (short TTL, so a
 * process that dies mid-request frees the key by itself) or the stored response (kept
 * for the retention). Every step is one Lua call on one key, so it is atomic across any
 * number of instances and works on Redis Cluster.
 */

/** What a replay sends again. `headers` are only those a client needs (Location, content-type…). */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type BeginResult =
  /** The caller owns the key now and must `complete` or `abandon` it with `token`. */
  | { state: 'new'; token: string }
  | { state: 'in-progress'; retryAfterSeconds: number }
  | { state: 'replay'; response: StoredResponse }
  /** The key was used for a different request (another body, path or method). */
  | { state: 'mismatch' };

export interface IdempotencyStore {
  /** How long an in-flight record lives unless its holder extends it. */
  readonly lockTtlMs: number;
  begin(scope: string, key: string, fingerprint: string): Promise<BeginResult>;
  /** Stores the response; false when the caller no longer owns the key (its lock ran out). */
  complete(scope: string, key: string, token: string, response: StoredResponse): Promise<boolean>;
  /** Releases the key so a retry runs again; false when the caller no longer owns it. */
  abandon(scope: string, key: string, token: string): Promise<boolean>;
  /**
   * Gives the caller's in-flight record a full lock TTL again, from now: a holder that is
   * still running calls it every few seconds, so a slow request keeps its key while a
   * crashed one still frees it within one TTL. False when the caller no longer owns it.
   */
  extend(scope: string, key: string, token: string): Promise<boolean>;
}

export interface IdempotencyStoreOptions {
  client: RedisClient;
  keys: KeySpace;
  /**
   * How long an in-flight record blocks its key if its holder never completes (a crash).
   * A live holder extends it while it runs (`extend`, the plugin's heartbeat), so it need
   * not outlast the slowest request, only a few missed heartbeats. Fractions allowed.
   */
  lockTtlSeconds?: number;
  /** How long a response is replayed. The contract promises at least 24 hours. */
  retentionSeconds?: number;
  /** The Retry-After sent while the first request runs; most requests finish well before the lock's TTL. */
  inProgressRetryAfterSeconds?: number;
  registry?: Registry;
}

export const IDEMPOTENCY_DEFAULTS = Object.freeze({
  // Three missed heartbeats (every lockTtl/3): a crashed instance holds a client's retry with
  // 409 for at most 10 s (it was 60 s, which the chaos suite's payment-service kill exposed).
  lockTtlSeconds: 10,
  retentionSeconds: 86_400,
  inProgressRetryAfterSeconds: 1,
});

const MIN_RETENTION_SECONDS = 86_400;

/**
 * KEYS[1] the record (hash). ARGV[1] request fingerprint, ARGV[2] new owner token,
 * ARGV[3] in-flight TTL in ms.
 * Returns {'new'} | {'mismatch'} | {'in-progress', pttl} | {'replay', status, headers, body}.
 */
const BEGIN_LUA = `
local record = redis.call('HMGET', KEYS[1], 'state', 'fingerprint')
local state, fingerprint = record[1], record[2]
if not state then
  -- Never used, abandoned, expired, or its holder died and the lock ran out: take it.
  redis.call('HSET', KEYS[1], 'state', 'pending', 'fingerprint', ARGV[1], 'token', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'new'}
end
-- Another request under a used key is a client bug, whether the first is running or done.
if fingerprint ~= ARGV[1] then return {'mismatch'} end
if state == 'pending' then return {'in-progress', redis.call('PTTL', KEYS[1])} end
local stored = redis.call('HMGET', KEYS[1], 'status', 'headers', 'body')
return {'replay', stored[1], stored[2], stored[3]}
`;

/**
 * KEYS[1] the record. ARGV[1] owner token, ARGV[2] status, ARGV[3] headers (JSON),
 * ARGV[4] body, ARGV[5] retention in ms. Returns 1 when stored, 0 when not the owner.
 */
const COMPLETE_LUA = `
local record = redis.call('HMGET', KEYS[1], 'state', 'token')
-- Only the holder stores: once its lock ran out, a retry may own the key and be running.
if record[1] ~= 'pending' or record[2] ~= ARGV[1] then return 0 end
-- The token is blanked in the same HSET: no script reads it once the state is 'done'.
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'headers', ARGV[3], 'body', ARGV[4], 'token', '')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`;

/** KEYS[1] the record. ARGV[1] owner token. Returns 1 when released, 0 when not the owner. */
const ABANDON_LUA = `
local record = redis.call('HMGET', KEYS[1], 'state', 'token')
-- A late abandon must not free a key a retry has taken since, nor erase a stored response.
if record[1] ~= 'pending' or record[2] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;

/**
 * KEYS[1] the record. ARGV[1] owner token, ARGV[2] in-flight TTL in ms.
 * Returns 1 when extended, 0 when not the owner.
 */
const EXTEND_LUA = `
local record = redis.call('HMGET', KEYS[1], 'state', 'token')
-- Only a running holder: never revive a key a retry has taken, nor shorten a stored response.
if record[1] ~= 'pending' or record[2] ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

type Reply = (string | number)[];

interface IdempotencyCommands {
  idempotencyBegin(key: string, fingerprint: string, token: string, lockTtlMs: number): Promise<Reply>;
  idempotencyComplete(key: string, token: string, status: number, headers: string, body: string, retentionMs: number): Promise<number>;
  idempotencyAbandon(key: string, token: string): Promise<number>;
  idempotencyExtend(key: string, token: string, lockTtlMs: number): Promise<number>;
}

const SCRIPTS: Readonly<Record<keyof IdempotencyCommands, ScriptDefinition>> = Object.freeze({
  idempotencyBegin: { numberOfKeys: 1, lua: BEGIN_LUA },
  idempotencyComplete: { numberOfKeys: 1, lua: COMPLETE_LUA },
  idempotencyAbandon: { numberOfKeys: 1, lua: ABANDON_LUA },
  idempotencyExtend: { numberOfKeys: 1, lua: EXTEND_LUA },
});

function checked(name: string, value: number, ok: boolean, rule: string): number {
  if (!Number.isFinite(value) || !ok) throw new RangeError(`idempotency ${name} must be ${rule}, got ${value}`);
  return value;
}

export function createIdempotencyStore(opts: IdempotencyStoreOptions): IdempotencyStore {
  const lockTtl = opts.lockTtlSeconds ?? IDEMPOTENCY_DEFAULTS.lockTtlSeconds;
  const retention = opts.retentionSeconds ?? IDEMPOTENCY_DEFAULTS.retentionSeconds;
  const lockTtlMs = Math.ceil(checked('lockTtlSeconds', lockTtl, lockTtl > 0, 'above 0') * 1000);
  const retentionMs = Math.ceil(checked('retentionSeconds', retention, retention >= MIN_RETENTION_SECONDS, 'at least 86400 (24 h)') * 1000);
  const retryAfterCap = opts.inProgressRetryAfterSeconds ?? IDEMPOTENCY_DEFAULTS.inProgressRetryAfterSeconds;
  const redis = defineScripts<IdempotencyCommands>(opts.client, SCRIPTS);
  const replays = counter(opts.registry, 'idempotency_replays_total', 'Requests answered with a stored response', []);
  const errors = counter(opts.registry, 'idempotency_redis_errors_total', 'Idempotency steps that failed because Redis did not answer', ['operation']);

  /** Redis failures become one typed error; the caller decides to fail closed or not. */
  async function call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (cause) {
      errors.inc({ operation });
      throw new RedisUnavailableError(`idempotency.${operation}`, { cause });
    }
  }

  function toBeginResult(reply: Reply): BeginResult {
    switch (reply[0]) {
      case 'new':
        throw new Error('unreachable: the token is added by begin');
      case 'mismatch':
        return { state: 'mismatch' };
      case 'in-progress': {
        const lockLeft = Math.ceil(Number(reply[1]) / 1000);
        return { state: 'in-progress', retryAfterSeconds: Math.max(1, Math.min(lockLeft, retryAfterCap)) };
      }
      default:
        replays.inc();
        return { state: 'replay', response: { status: Number(reply[1]), headers: JSON.parse(String(reply[2])), body: String(reply[3]) } };
    }
  }

  return Object.freeze({
    lockTtlMs,

    async begin(scope: string, key: string, fingerprint: string): Promise<BeginResult> {
      const token = randomUUID();
      const reply = await call('begin', () => redis.idempotencyBegin(opts.keys.idempotency(scope, key), fingerprint, token, lockTtlMs));
      return reply[0] === 'new' ? { state: 'new', token } : toBeginResult(reply);
    },

    async complete(scope: string, key: string, token: string, response: StoredResponse): Promise<boolean> {
      const { status, headers, body } = response;
      const stored = await call('complete', () =>
        redis.idempotencyComplete(opts.keys.idempotency(scope, key), token, status, JSON.stringify(headers), body, retentionMs),
      );
      return stored === 1;
    },

    async abandon(scope: string, key: string, token: string): Promise<boolean> {
      return (await call('abandon', () => redis.idempotencyAbandon(opts.keys.idempotency(scope, key), token))) === 1;
    },

    async extend(scope: string, key: string, token: string): Promise<boolean> {
      return (await call('extend', () => redis.idempotencyExtend(opts.keys.idempotency(scope, key), token, lockTtlMs))) === 1;
    },
  });
}

/** JSON with object keys sorted at every depth, so `{a,b}` and `{b,a}` are one request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (Buffer.isBuffer(value)) return JSON.stringify(value.toString('base64'));
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON !== 'function') {
    const object = value as Record<string, unknown>;
    const members = Object.keys(object)
      .filter((k) => object[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(object[k])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * What makes two requests "the same" under one key: method, target and body. Pass the
 * concrete path (`/v1/payments/p1/refunds`), not only the route pattern, so one key reused
 * for another payment's refund is a mismatch rather than a replay of the first.
 */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method.toUpperCase()}\n${path}\n${canonicalJson(body)}`).digest('hex');
}
