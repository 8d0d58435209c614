import type { Counter, Registry } from 'prom-client';
import type { KeySpace, RedisClient } from '@platform/redis';

/** What streams.ts and its consumer loop (stream-consumer.ts) share: settings and shapes. */

export const STREAM_DEFAULTS = Object.freeze({
  /**
   * The most entries a stream holds (EVENTS_STREAM_MAX_LEN). At the cap, entries every group is done
   * with give way to the new one; when none is, publish refuses (StreamFullError) rather than drop
   * an event some group has not handled. The dead-letter stream is capped near it (`MAXLEN ~`).
   */
  maxLen: 100_000,
  /** Entries every group is done with are trimmed once this old (EVENTS_STREAM_RETENTION_SECONDS). */
  retentionMs: 3_600_000,
  /** Dead letters are trimmed once this old: a day to look at them (their events stay in the outbox table longer). */
  deadLetterRetentionMs: 86_400_000,
  /** How often a consumer trims its stream and its dead-letter stream. */
  trimEveryMs: 60_000,
  batchSize: 10,
  blockMs: 5_000,
  /** An entry pending this long belongs to a consumer that died or failed: claim it. */
  claimIdleMs: 60_000,
  /** Deliveries after which an entry goes to the dead-letter stream instead of the handler. */
  maxDeliveries: 5,
  /** Back-off after a Redis error doubles from this up to maxBackoffMs. */
  backoffMs: 100,
  maxBackoffMs: 5_000,
});

export interface StreamEvent<T = unknown> {
  readonly id: string;
  readonly stream: string;
  readonly data: T;
  /** 1 on the first delivery; more when this entry was claimed after a failure or a crash. */
  readonly deliveries: number;
}

export interface ConsumeOptions<T> {
  stream: string;
  group: string;
  /** Unique per process (e.g. host name + pid): pending entries are tracked per consumer. */
  consumer: string;
  /** Resolve to ack; throw to leave the entry pending for a retry. Must be idempotent (at-least-once). */
  handler: (event: StreamEvent<T>) => Promise<void>;
  batchSize?: number;
  blockMs?: number;
  claimIdleMs?: number;
  maxDeliveries?: number;
  /** Aborting it stops the consumer, as stop() does. */
  signal?: AbortSignal;
  /** These four default to the streams' own settings (StreamsOptions), then to STREAM_DEFAULTS. */
  maxLen?: number;
  retentionMs?: number;
  deadLetterRetentionMs?: number;
  trimEveryMs?: number;
}

export interface ConsumerStats {
  handled: number;
  failed: number;
  deadLettered: number;
  /** Redis errors of the loop (each followed by a back-off). */
  errors: number;
}

export interface Consumer {
  /** Resolves once the consumer group exists (or the consumer stopped first). */
  readonly ready: Promise<void>;
  /** Resolves when the loop has ended and its connection is closed. */
  readonly done: Promise<void>;
  /** Lets the in-flight handler finish (and ack), then ends the loop and closes its connection. */
  stop(): Promise<void>;
  stats(): ConsumerStats;
  /** The group's pending entries and entries not yet delivered to it (XINFO GROUPS, Redis 7). */
  lag(): Promise<{ pending: number; lag: number | null } | null>;
}

export interface StreamLogger {
  warn(obj: object, msg: string): void;
}

export interface StreamsOptions {
  client: RedisClient;
  keys: KeySpace;
  registry?: Registry;
  logger?: StreamLogger;
  /** The streams' cap and how long entries are kept once done with, for publish and consume alike. */
  maxLen?: number;
  retentionMs?: number;
}

/** The stream holds maxLen entries that some consumer group has not handled yet: nothing was added. */
export class StreamFullError extends Error {
  constructor(
    readonly stream: string,
    readonly maxLen: number,
    /** Of several events published together, the ids of those added before the stream was full. */
    readonly appended: readonly string[] = [],
  ) {
    super(`The stream ${stream} holds ${maxLen} entries its consumers have not handled yet; the event waits until they catch up`);
    this.name = 'StreamFullError';
  }
}

export interface Streams {
  /**
   * Appends the event as JSON; returns the entry id. Throws StreamFullError when the stream holds
   * `maxLen` entries that some group still needs. Streams are the only keys without a TTL.
   */
  publish(stream: string, event: object, opts?: { maxLen?: number }): Promise<string>;
  /**
   * Appends the events in order, in one command; returns their entry ids. When the stream fills up
   * on the way, the events from there on are not appended: StreamFullError, whose `appended` holds
   * the ids of those that were.
   */
  publishAll(stream: string, events: readonly object[], opts?: { maxLen?: number }): Promise<string[]>;
  consume<T = unknown>(opts: ConsumeOptions<T>): Consumer;
  /**
   * The stream's marker: `touch` extends it and answers whether it was there (false after a
   * FLUSHALL, or a restart without persistence: Redis lost the stream's entries too), and written
   * on the current primary (false after a failover, which may have lost the last entries);
   * `set` writes it for the current primary (@platform/redis loss-marker.ts). Publishers keep it to know when to publish again what Redis lost.
   */
  marker: {
    touch(stream: string, ttlSeconds: number): Promise<boolean>;
    set(stream: string, ttlSeconds: number): Promise<void>;
  };
}

export interface StreamMetrics {
  events: Counter<'stream' | 'group' | 'result'>;
  errors: Counter<'stream' | 'group'>;
}
