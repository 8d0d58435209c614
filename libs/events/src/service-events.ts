import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { eventStreams } from './config';
import { registerEventConsumer } from './consumer';
import { registerOutboxRelay } from './outbox-plugin';
import type { StreamEvent } from './stream-types';

/** The EVENTS_* settings of a service's configuration (`eventsEnv()`). */
export interface EventsConfig {
  EVENTS_REDIS_KEY_PREFIX: string;
  EVENTS_CLAIM_IDLE_MS: number;
  EVENTS_REPLAY_WINDOW_SECONDS: number;
  EVENTS_STREAM_MAX_LEN: number;
  EVENTS_STREAM_RETENTION_SECONDS: number;
}

export interface ServiceEventsOptions<T> {
  config: EventsConfig;
  /** The service's consumer group: its name. */
  group: string;
  /** The stream the service consumes, the events it understands (others are acked unhandled), and its handler. */
  consume: { stream: string; schema: TSchema & { static: T }; handler: (event: StreamEvent<T>) => Promise<unknown> };
}

/**
 * A service's events: its outbox relayed to the shared streams (`app.outbox.nudge()` after a
 * commit that enqueued), and its consumer of one stream. Registered after the routes, so on
 * close the consumer and the relay stop first, before Redis and MySQL close.
 */
export async function registerServiceEvents<T>(app: FastifyInstance, { config, group, consume }: ServiceEventsOptions<T>): Promise<void> {
  const streams = eventStreams({
    client: app.redis,
    prefix: config.EVENTS_REDIS_KEY_PREFIX,
    registry: app.metrics,
    logger: app.log,
    maxLen: config.EVENTS_STREAM_MAX_LEN,
    retentionMs: config.EVENTS_STREAM_RETENTION_SECONDS * 1000,
  });
  await registerOutboxRelay(app, { dataSource: () => app.db, streams, replayWindowSeconds: config.EVENTS_REPLAY_WINDOW_SECONDS });
  await registerEventConsumer(app, {
    streams,
    stream: consume.stream,
    group,
    claimIdleMs: config.EVENTS_CLAIM_IDLE_MS,
    schema: consume.schema,
    handler: async (event) => void (await consume.handler(event)),
  });
}
