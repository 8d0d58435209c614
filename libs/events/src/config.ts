import { keySpace, type RedisClient } from '@platform/redis';
import { createStreams, type StreamLogger, type Streams } from './streams';
import { KeyPrefix } from '@platform/service-kit';
import { Type } from '@sinclair/typebox';
import type { Registry } from 'prom-client';

/**
 * The events settings, a fragment each service spreads into its ConfigSchema (`...eventsEnv()`).
 *
 * EVENTS_REDIS_KEY_PREFIX is not REDIS_KEY_PREFIX: a stream is written by one service and
 * read by another, so streams live under one prefix that must be the same everywhere,
 * while each service keeps its own prefix (`order:`, `payment:`) for everything else.
 */
export const eventsEnv = () => ({
  EVENTS_REDIS_KEY_PREFIX: KeyPrefix('events:'),
  /**
   * An event pending this long with a consumer (one that crashed, or whose handler failed) is
   * claimed by another. Longer than the slowest handler, or a slow one is run twice.
   */
  EVENTS_CLAIM_IDLE_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 60_000 }),
  /**
   * When Redis lost its data, the events sent this many seconds back are published again.
   * Longer than consumers ever lag; at most what the streams' MAXLEN holds.
   */
  EVENTS_REPLAY_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 604_800, default: 900 }),
  /**
   * The most entries a stream holds. Entries its consumers are done with make room; when none
   * are, the relays keep further events in their outbox tables until the consumers catch up.
   */
  EVENTS_STREAM_MAX_LEN: Type.Integer({ minimum: 100, maximum: 10_000_000, default: 100_000 }),
  /** How long an entry every consumer group is done with stays in its stream; at most 25 hours. */
  EVENTS_STREAM_RETENTION_SECONDS: Type.Integer({ minimum: 1, maximum: 90_000, default: 3_600 }),
});

export interface EventStreamsOptions {
  client: RedisClient;
  /** EVENTS_REDIS_KEY_PREFIX: the same in every service. */
  prefix: string;
  registry?: Registry;
  logger?: StreamLogger;
  /** EVENTS_STREAM_MAX_LEN. */
  maxLen?: number;
  /** EVENTS_STREAM_RETENTION_SECONDS, in ms. */
  retentionMs?: number;
}

/** The event streams on the shared prefix, from the service's Redis client, metrics and logger. */
export function eventStreams({ prefix, ...opts }: EventStreamsOptions): Streams {
  return createStreams({ ...opts, keys: keySpace(prefix) });
}
