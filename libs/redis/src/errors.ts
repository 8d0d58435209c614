/** Typed errors of the Redis layer; callers branch on the class, never on a message. */

/**
 * Redis could not be asked (down, timed out) and the caller's fail mode is `closed`. The
 * service kit's error handler answers one that reaches it with 503 DEPENDENCY_UNAVAILABLE.
 */
export class RedisUnavailableError extends Error {
  readonly dependency = 'redis';

  constructor(readonly operation: string, options?: { cause?: unknown }) {
    super(`Redis unavailable during ${operation}`, options);
    this.name = 'RedisUnavailableError';
  }
}

/** Someone else held the lock for the whole wait. `retryAfterMs` is the holder's remaining TTL, if known. */
export class LockNotAcquiredError extends Error {
  constructor(readonly lockName: string, readonly retryAfterMs?: number) {
    super(`Lock ${lockName} is held by another owner`);
    this.name = 'LockNotAcquiredError';
  }
}

/** The lock expired or was taken over: the caller must stop acting as its owner. */
export class LockLostError extends Error {
  constructor(readonly lockName: string) {
    super(`Lock ${lockName} was lost`);
    this.name = 'LockLostError';
  }
}

/** A rate limit refused the request; `retryAfterSeconds` is when one would be allowed. */
export class RateLimitedError extends Error {
  constructor(readonly policy: string, readonly retryAfterSeconds: number) {
    super(`Rate limit ${policy} exceeded; retry in ${retryAfterSeconds} s`);
    this.name = 'RateLimitedError';
  }
}
