// @fastify/rate-limit ships no types for its store classes; this is the part the bench calls.
declare module '@fastify/rate-limit/store/RedisStore' {
  import type { Redis } from 'ioredis';

  class RedisStore {
    constructor(continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key?: string);
    incr(key: string, cb: (err: Error | null, res: { current: number; ttl: number } | null) => void, timeWindow: number, max: number): void;
  }
  export = RedisStore;
}
