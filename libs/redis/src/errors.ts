import { DependencyUnavailableError } from '@platform/service-kit';

/** Typed errors of the Redis layer; callers branch on the class, never on a message. */

/**
 * Redis could not be asked (down, timed out) and the caller's fail mode is `closed`. A
 * DependencyUnavailableError, so one that reaches a route's error handler answers 503.
 */
export class RedisUnavailableError extends DependencyUnavailableError {
  constructor(readonly operation: string, options?: { cause?: unknown }) {
    super('redis', options);
    this.message = `Redis unavailable during ${operation}`;
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
