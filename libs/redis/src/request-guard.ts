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
  check(query: RevocationQuery, policy: string): Promise<{ revoked: boolean; limit: RateLimitResult }>;
}

export function createRequestGuard(opts: { client: RedisClient; revocation: Revocation; limiter: RateLimiter }): RequestGuard {
  const { client, revocation, limiter } = opts;
  return Object.freeze({
    async check(query: RevocationQuery, policy: string) {
      const pipeline = client.pipeline();
      const revoked = revocation.queue(pipeline, query);
      const limit = limiter.queue(pipeline, policy, `user:${query.userId}`);
      let replies: PipelineReply[] = [];
      if (pipeline.length > 0) {
        // Concurrent requests' pipelines share write system calls (client.ts).
        coalesceWrites(client);
        // exec() rejects only when the pipeline could not be sent at all: every reply failed.
        replies = (await pipeline.exec().catch(() => null)) ?? [];
      }
      return { revoked: revoked(replies[0]), limit: limit(replies[1]) };
    },
  });
}
