import { Cluster, type ChainableCommander } from 'ioredis';
import { coalesceWrites, type RedisClient } from './client';
import type { RateLimiter, RateLimitResult } from './rate-limiter';
import type { PipelineReply, Revocation, RevocationQuery } from './revocation';

/**
 * The Redis part of an authenticated, rate-limited request in ONE round trip: the
 * revocation check (MGET) and the limiter's script go out in a single pipeline. Their
 * keys share the `{user:<id>}` hash tag, so on Redis Cluster they live on one node
 * and the pipeline is still one round trip.
 */
export interface RequestGuard {
  /**
   * `prefetch` queues the route's own reads (e.g. a cache GET) in the same pipeline and reads
   * their replies, so a cached read costs no second round trip. Standalone Redis only: a cluster
   * refuses a pipeline across slots, and there the route reads on its own (prefetch is skipped).
   */
  check(query: RevocationQuery, policy: string, prefetch?: Prefetch): Promise<{ revoked: boolean; limit: RateLimitResult }>;
}

/** Queues commands on the guard's pipeline and answers the reader of their (one) reply. */
export type Prefetch = (pipeline: ChainableCommander) => (reply: PipelineReply) => void;

export function createRequestGuard(opts: { client: RedisClient; revocation: Revocation; limiter: RateLimiter }): RequestGuard {
  const { client, revocation, limiter } = opts;
  const joinable = !(client instanceof Cluster);
  return Object.freeze({
    async check(query: RevocationQuery, policy: string, prefetch?: Prefetch) {
      const pipeline = client.pipeline();
      const revoked = revocation.queue(pipeline, query);
      const limit = limiter.queue(pipeline, policy, `user:${query.userId}`);
      const prefetched = prefetch && joinable ? prefetch(pipeline) : undefined;
      let replies: PipelineReply[] = [];
      if (pipeline.length > 0) {
        // Concurrent requests' pipelines share write system calls (client.ts).
        coalesceWrites(client);
        // exec() rejects only when the pipeline could not be sent at all: every reply failed.
        replies = (await pipeline.exec().catch(() => null)) ?? [];
      }
      prefetched?.(replies[2]);
      return { revoked: revoked(replies[0]), limit: limit(replies[1]) };
    },
  });
}
