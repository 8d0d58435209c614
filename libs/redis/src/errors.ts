/** Typed errors of the Redis layer; callers branch on the class, never on a message. */

/** Redis could not be asked (down, timed out) and the caller's fail mode is `closed`. */
export class RedisUnavailableError extends Error {
  constructor(readonly operation: string, options?: { cause?: unknown }) {
    super(`Redis unavailable during ${operation}`, options);
    this.name = 'RedisUnavailableError';
  }
}
