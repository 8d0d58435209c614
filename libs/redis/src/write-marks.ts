import type { RedisClient } from './client';
import type { KeySpace } from './keys';

export interface WriteMarksOptions {
  client: RedisClient;
  /** The shared auth key space (AUTH_REDIS_KEY_PREFIX): a mark set by one service is seen by all. */
  keys: KeySpace;
  /** How long a mark lives; longer than the replicas' lag bound (libs/db `writeMarkTtlMs`). */
  ttlMs: number;
}

/**
 * "This user wrote just now": one key per user with a TTL, set after a user's write (and before
 * the cache invalidation that goes with it); while it lives, that user's reads go to the MySQL
 * primary instead of a replica (libs/db replicas.ts, ADR 0020).
 */
export function createWriteMarks({ client, keys, ttlMs }: WriteMarksOptions) {
  if (!(ttlMs >= 1) || !Number.isFinite(ttlMs)) throw new RangeError(`write mark TTL must be a positive number of ms, got ${ttlMs}`);
  const ttl = Math.round(ttlMs);
  return Object.freeze({
    ttlMs: ttl,
    async mark(userId: string): Promise<void> {
      await client.set(keys.wrote(userId), '1', 'PX', ttl);
    },
    async marked(userId: string): Promise<boolean> {
      return (await client.exists(keys.wrote(userId))) === 1;
    },
  });
}

export type RedisWriteMarks = ReturnType<typeof createWriteMarks>;
