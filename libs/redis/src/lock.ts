import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { RedisClient } from './client';
import { LockLostError, LockNotAcquiredError, RedisUnavailableError } from './errors';
import type { KeySpace } from './keys';
import { counter } from './metrics';
import { defineScripts } from './scripts';

/**
 * KEYS[1] lock, KEYS[2] fence counter (same hash tag). ARGV[1] owner token, ARGV[2] lock TTL ms,
 * ARGV[3] fence counter TTL ms. Returns {1, fence} when taken, {0, holder's remaining ms} when busy.
 */
const ACQUIRE_LUA = `
-- NX: only a free lock is taken. PX: the lock of an owner that died frees itself.
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, redis.call('PTTL', KEYS[1])}
end
-- A counter that expired (or never existed, or was lost) restarts from the server clock in ms,
-- not from 1: it started from the clock too and went up by one per acquire, so it stays below
-- the clock as long as acquires came less than once per ms; fences stay above all earlier ones.
if redis.call('EXISTS', KEYS[2]) == 0 then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[2], tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
end
-- INCR in the same atomic step as the SET: no two owners ever hold the same fence.
local fence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {1, fence}
`;

/** KEYS[1] lock. ARGV[1] owner token. Deletes only the caller's own lock. */
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
-- Expired, or another owner holds it now: not ours to delete.
return 0
`;

/** KEYS[1] lock. ARGV[1] owner token, ARGV[2] new TTL ms. Extends only the caller's own lock. */
const EXTEND_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

interface LockScripts {
  platformLockAcquire(lock: string, fence: string, token: string, ttlMs: number, fenceTtlMs: number): Promise<[number, number]>;
  platformLockRelease(lock: string, token: string): Promise<number>;
  platformLockExtend(lock: string, token: string, ttlMs: number): Promise<number>;
}

const SCRIPTS = Object.freeze({
  platformLockAcquire: { numberOfKeys: 2, lua: ACQUIRE_LUA },
  platformLockRelease: { numberOfKeys: 1, lua: RELEASE_LUA },
  platformLockExtend: { numberOfKeys: 1, lua: EXTEND_LUA },
});


export const LOCK_DEFAULTS = Object.freeze({
  /** How long acquire keeps trying; 0 = one attempt. */
  waitMs: 0,
  /** Pause between attempts (jittered), unless the holder's lock expires sooner. */
  retryMs: 50,
  /**
   * The fence counter lives this long after the last acquire. Fences are strictly increasing while
   * it lives; after it expires they restart from the Redis clock in ms, above any earlier fence
   * (see ACQUIRE_LUA), so it need not outlive the lock by much. An hour is far above how long a
   * charge holds its order's lock, and what one order leaves in Redis is gone well within the
   * contract's 25 hours (ADR 0003).
   */
  fenceTtlMs: 3_600_000,
});

export interface Lock {
  readonly name: string;
  /** Random owner token: only its holder can release or extend the lock. */
  readonly token: string;
  /** Grows on every acquire of this name; pass it to storage that rejects writes with a smaller fence. */
  readonly fence: number;
  /** Local time by which the lock has surely expired unless extended (measured from before the request). */
  readonly expiresAt: number;
}

export interface AcquireOptions {
  ttlMs: number;
  waitMs?: number;
}

export interface LockContext {
  readonly fence: number;
  /** Aborts (reason: LockLostError) when the lock was lost; stop acting as its owner. */
  readonly signal: AbortSignal;
}

export interface LockManager {
  /** Throws LockNotAcquiredError when held by someone else for all of waitMs, RedisUnavailableError when Redis fails. */
  acquire(name: string, opts: AcquireOptions): Promise<Lock>;
  /** True when the lock was ours and is now free; false when it had expired or changed hands. */
  release(lock: Lock): Promise<boolean>;
  /** Throws LockLostError when the lock is no longer ours. */
  extend(lock: Lock, ttlMs: number): Promise<Lock>;
  /** Runs fn holding the lock, extending it every ttlMs/3, and releases it afterwards (also on throw). */
  withLock<T>(name: string, fn: (ctx: LockContext) => Promise<T>, opts: AcquireOptions): Promise<T>;
}

export interface LockManagerOptions {
  client: RedisClient;
  keys: KeySpace;
  registry?: Registry;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Distributed locks with owner tokens and fencing (after node-redlock, for one Redis or a Cluster). */
export function createLock({ client, keys, registry }: LockManagerOptions): LockManager {
  const redis = defineScripts<RedisClient & LockScripts>(client, SCRIPTS);
  const acquires = counter(registry, 'redis_lock_acquire_total', 'Lock acquire attempts by result', ['result'] as const);
  const losses = counter(registry, 'redis_lock_lost_total', 'Locks lost while withLock ran', [] as const);

  async function attempt(name: string, token: string, ttlMs: number): Promise<[number, number]> {
    const { lock, fence } = keys.lock(name);
    try {
      return await redis.platformLockAcquire(lock, fence, token, ttlMs, LOCK_DEFAULTS.fenceTtlMs);
    } catch (err) {
      acquires.inc({ result: 'error' });
      throw new RedisUnavailableError('lock.acquire', { cause: err });
    }
  }

  async function acquire(name: string, { ttlMs, waitMs = LOCK_DEFAULTS.waitMs }: AcquireOptions): Promise<Lock> {
    const token = randomBytes(16).toString('base64url');
    const deadline = Date.now() + waitMs;
    for (;;) {
      const started = Date.now();
      const [taken, value] = await attempt(name, token, ttlMs);
      if (taken === 1) {
        acquires.inc({ result: 'acquired' });
        return Object.freeze({ name, token, fence: Number(value), expiresAt: started + ttlMs });
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        acquires.inc({ result: 'busy' });
        throw new LockNotAcquiredError(name, value > 0 ? value : undefined);
      }
      const pause = LOCK_DEFAULTS.retryMs * (0.5 + Math.random());
      await sleep(Math.min(left, value > 0 ? Math.min(value + 1, pause) : pause));
    }
  }

  async function release(lock: Lock): Promise<boolean> {
    try {
      return (await redis.platformLockRelease(keys.lock(lock.name).lock, lock.token)) === 1;
    } catch (err) {
      throw new RedisUnavailableError('lock.release', { cause: err });
    }
  }

  async function extend(lock: Lock, ttlMs: number): Promise<Lock> {
    const started = Date.now();
    let extended: number;
    try {
      extended = await redis.platformLockExtend(keys.lock(lock.name).lock, lock.token, ttlMs);
    } catch (err) {
      throw new RedisUnavailableError('lock.extend', { cause: err });
    }
    if (extended !== 1) throw new LockLostError(lock.name);
    return Object.freeze({ ...lock, expiresAt: started + ttlMs });
  }

  /**
   * Extends the lock every ttlMs/3. A Redis hiccup is retried while the lock still has time left;
   * the signal fires once the lock is surely gone (taken over, deleted, or expired unextended).
   */
  function keepExtended(first: Lock, ttlMs: number, lost: AbortController): () => void {
    const every = Math.max(1, Math.floor(ttlMs / 3));
    let lock = first;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = async () => {
      try {
        lock = await extend(lock, ttlMs);
      } catch (err) {
        if (stopped) return;
        if (err instanceof LockLostError || Date.now() >= lock.expiresAt) {
          losses.inc();
          lost.abort(new LockLostError(lock.name));
          return;
        }
      }
      if (!stopped) timer = setTimeout(tick, Math.max(0, Math.min(every, lock.expiresAt - Date.now())));
    };
    timer = setTimeout(tick, every);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  /**
   * Returns fn's result even if the lock was lost meanwhile: fn was told through the signal,
   * and writes guarded by the fence reject a stale owner. Release failures are left to the TTL.
   */
  async function withLock<T>(name: string, fn: (ctx: LockContext) => Promise<T>, opts: AcquireOptions): Promise<T> {
    const lock = await acquire(name, opts);
    const lost = new AbortController();
    const stop = keepExtended(lock, opts.ttlMs, lost);
    try {
      return await fn({ fence: lock.fence, signal: lost.signal });
    } finally {
      stop();
      await release(lock).catch(() => false);
    }
  }

  return Object.freeze({ acquire, release, extend, withLock });
}
