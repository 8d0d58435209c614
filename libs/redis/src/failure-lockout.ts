import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import type { KeySpace } from './keys';
import { counter } from './metrics';
import type { FailMode, WarnLogger } from './revocation';
import { defineScripts, logThrottle } from './scripts';

/**
 * Locks a subject out after too many failures, e.g. an account after 5 wrong passwords
 * in 15 minutes (CONTRACT.md "Rate limits"): from the failure that reaches the limit,
 * every attempt is refused until a whole window has passed, even with the right
 * password. A rate limiter cannot say this: it would count successes too and reopen
 * gradually. Failures are a sliding log (a sorted set of at most `maxFailures` times),
 * so old ones age out one by one and the count is exact across instances.
 */

export interface FailureLockoutOptions {
  client: RedisClient;
  keys: KeySpace;
  /** Names the lockout in keys and metrics, e.g. `login`. */
  name: string;
  maxFailures: number;
  windowSeconds: number;
  /** When Redis cannot answer: `closed` (the default) throws RedisUnavailableError, `open` lets the attempt through. */
  failMode?: FailMode;
  registry?: Registry;
  logger?: WarnLogger;
}

export interface LockoutState {
  locked: boolean;
  /** Seconds until attempts are allowed again; 0 when not locked. */
  retryAfterSeconds: number;
}

export interface FailureLockout {
  /** Before an attempt: is the subject locked out? One command (PTTL). */
  check(subject: string): Promise<LockoutState>;
  /** After a failed attempt: records it, and locks the subject when it reaches the limit. */
  recordFailure(subject: string): Promise<LockoutState & { failures: number }>;
  /** Forgets the subject's failures and lifts its lockout (e.g. after an administrator's reset). */
  reset(subject: string): Promise<void>;
}

const RECORD_FAILURE_LUA = `
-- KEYS[1]: the subject's failure log (sorted set, score = time in ms)
-- KEYS[2]: the lockout marker, alive while the subject is locked out
-- ARGV[1]: max failures, ARGV[2]: window in ms, ARGV[3]: a unique member for this failure
-- Returns {locked 0/1, ms until unlocked, failures in the window, 1 if this failure locked it}.
local lockMs = redis.call('PTTL', KEYS[2])
if lockMs > 0 then
  -- Already locked: the attempt should not have run; it neither counts nor extends the lock.
  return {1, lockMs, tonumber(ARGV[1]), 0}
end
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
-- The server's clock, so every instance agrees on what has aged out.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
local failures = redis.call('ZCARD', KEYS[1])
if failures >= max then
  redis.call('SET', KEYS[2], '1', 'PX', window)
  return {1, window, failures, 1}
end
return {0, 0, failures, 0}
`;

const RECORD_FAILURE = 'platformLockoutRecordFailure';

type WithRecordFailure = {
  [RECORD_FAILURE](log: string, lock: string, max: number, windowMs: number, member: string): Promise<[number, number, number, number]>;
};

const secondsOf = (ms: number) => (ms > 0 ? Math.ceil(ms / 1000) : 0);

export function createFailureLockout(opts: FailureLockoutOptions): FailureLockout {
  const { client, keys, name, maxFailures, windowSeconds } = opts;
  if (!Number.isInteger(maxFailures) || maxFailures < 1 || !(windowSeconds > 0)) {
    throw new RangeError(`lockout "${name}" needs an integer maxFailures >= 1 and a positive window`);
  }
  const failMode = opts.failMode ?? 'closed';
  const windowMs = Math.ceil(windowSeconds * 1000);
  const scripts = defineScripts<WithRecordFailure>(client, { [RECORD_FAILURE]: { numberOfKeys: 2, lua: RECORD_FAILURE_LUA } });
  const lockouts = counter(opts.registry, 'lockout_locked_total', 'Subjects locked out after too many failures, by lockout.', ['lockout']);
  const failures = counter(opts.registry, 'lockout_redis_errors_total', 'Lockout calls Redis could not answer, by lockout and fail mode.', [
    'lockout',
    'fail_mode',
  ]);
  const throttle = logThrottle();

  function failed(err: unknown, operation: string): LockoutState & { failures: number } {
    failures.inc({ lockout: name, fail_mode: failMode });
    const { log, suppressed } = throttle();
    if (log) opts.logger?.warn({ err, lockout: name, failMode, suppressed }, `lockout ${operation} failed: Redis unavailable`);
    if (failMode === 'closed') throw new RedisUnavailableError(`lockout ${name} ${operation}`, { cause: err });
    return { locked: false, retryAfterSeconds: 0, failures: 0 };
  }

  return Object.freeze({
    async check(subject: string): Promise<LockoutState> {
      try {
        const ms = await client.pttl(keys.failures(name, subject).lock);
        return { locked: ms > 0, retryAfterSeconds: secondsOf(ms) };
      } catch (err) {
        const { locked, retryAfterSeconds } = failed(err, 'check');
        return { locked, retryAfterSeconds };
      }
    },

    async recordFailure(subject: string) {
      const k = keys.failures(name, subject);
      try {
        const [locked, ms, count, justLocked] = await scripts[RECORD_FAILURE](k.log, k.lock, maxFailures, windowMs, randomUUID());
        if (justLocked === 1) lockouts.inc({ lockout: name });
        return { locked: locked === 1, retryAfterSeconds: secondsOf(ms), failures: count };
      } catch (err) {
        return failed(err, 'record');
      }
    },

    async reset(subject: string): Promise<void> {
      const k = keys.failures(name, subject);
      try {
        await client.del(k.log, k.lock);
      } catch (err) {
        throw new RedisUnavailableError(`lockout ${name} reset`, { cause: err });
      }
    },
  });
}
