import { Cluster } from 'ioredis';
import { counter, lossMarker, RedisUnavailableError, followingSentinels, type RedisClient } from '@platform/redis';
import { startConsumer } from './stream-consumer';
import { streamScripts } from './stream-scripts';
import { STREAM_DEFAULTS, StreamFullError, type ConsumeOptions, type Consumer, type StreamMetrics, type Streams, type StreamsOptions } from './stream-types';

export * from './stream-types';

/**
 * Event streams over Redis Streams consumer groups: at-least-once, with claims and a dead-letter
 * stream. Bounded without losing an event: only entries every group is done with are trimmed
 * (stream-scripts.ts), by consumers once they are `retentionMs` old, and by publish at the cap.
 */
export function createStreams(opts: StreamsOptions): Streams {
  const { client, keys, registry, logger = { warn: () => undefined } } = opts;
  const defaults = { ...STREAM_DEFAULTS, maxLen: opts.maxLen ?? STREAM_DEFAULTS.maxLen, retentionMs: opts.retentionMs ?? STREAM_DEFAULTS.retentionMs };
  const scripts = streamScripts(client);
  const metrics: StreamMetrics = {
    events: counter(registry, 'redis_stream_events_total', 'Stream entries by outcome', ['stream', 'group', 'result'] as const),
    errors: counter(registry, 'redis_stream_consumer_errors_total', 'Redis errors in stream consumer loops', ['stream', 'group'] as const),
  };

  async function publishAll(stream: string, events: readonly object[], { maxLen = defaults.maxLen }: { maxLen?: number } = {}): Promise<string[]> {
    if (events.length === 0) return [];
    let ids: string[];
    try {
      ids = await scripts.platformStreamPublish(keys.stream(stream).stream, maxLen, ...events.map((e) => JSON.stringify(e)));
    } catch (err) {
      throw new RedisUnavailableError('streams.publish', { cause: err });
    }
    if (ids.length < events.length) throw new StreamFullError(stream, maxLen, ids);
    return ids;
  }

  async function publish(stream: string, event: object, opts: { maxLen?: number } = {}): Promise<string> {
    const [id] = await publishAll(stream, [event], opts);
    return id as string;
  }

  function consume<T>(opts: ConsumeOptions<T>): Consumer {
    const settings = { ...defaults, ...definedOnly(opts), keys: keys.stream(opts.stream) };
    return startConsumer<T>(settings, { client, conn: dedicatedConnection(client, settings.blockMs), metrics, logger });
  }

  // Tagged with the primary's replication ID: a failover that may have lost entries counts as a loss (loss-marker.ts).
  const marker = Object.freeze({
    touch: (stream: string, ttlSeconds: number) => lossMarker(client, keys.stream(stream).marker).touch(ttlSeconds),
    set: (stream: string, ttlSeconds: number) => lossMarker(client, keys.stream(stream).marker).set(ttlSeconds),
  });

  return Object.freeze({ publish, publishAll, consume, marker });
}

/** `{ blockMs: undefined }` must not override a default. */
function definedOnly<T extends object>(opts: T): T {
  return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Blocking reads get a connection of their own: the shared client's command timeout is shorter
 * than a block, and nothing else should wait behind a read. This one allows the block plus the
 * shared client's timeout. It keeps the shared client's "no offline queue": a command is either
 * on a live socket (and fails when stop() closes it) or fails at once, never parked in a queue
 * that a closed connection might not flush; the loop waits for 'ready' instead.
 */
function dedicatedConnection(client: RedisClient, blockMs: number): RedisClient {
  // A block legitimately waits blockMs for its answer: the socket is only dead after that.
  const timeouts = (base?: number) => {
    const commandTimeout = blockMs + Math.max(base ?? 0, 1_000);
    return { commandTimeout, socketTimeout: commandTimeout };
  };
  const conn =
    client instanceof Cluster
      ? client.duplicate([], { redisOptions: { ...client.options.redisOptions, ...timeouts(client.options.redisOptions?.commandTimeout) } })
      : followingSentinels(client.duplicate(timeouts(client.options.commandTimeout)));
  // Failures surface as rejected commands, which the loop counts and logs.
  conn.on('error', () => undefined);
  return conn;
}
