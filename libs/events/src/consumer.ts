import type { ConsumeOptions, Consumer, ConsumerStats, StreamEvent, Streams } from './streams';
import type {} from '@platform/service-kit';
import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Gauge, type Registry } from 'prom-client';
import { parseEvent } from './contracts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The event consumers of this app, e.g. for a test to await their `ready`. */
    eventConsumers: readonly EventConsumer[];
  }
}

export interface EventConsumer {
  readonly stream: string;
  readonly group: string;
  /** Resolves once the app is ready and the consumer group exists (or the consumer stopped first). */
  readonly ready: Promise<void>;
  /** Undefined until onReady has started the consumer. */
  stats(): ConsumerStats | undefined;
  /** The group's pending and undelivered entries; undefined before the start. Rejects when Redis cannot be asked. */
  lag(): Promise<number | undefined>;
}

export interface EventConsumerOptions<T> extends Omit<ConsumeOptions<T>, 'consumer' | 'signal'> {
  streams: Streams;
  /** Entries that are not one of these are acked without calling the handler, e.g. event types newer than this service. */
  schema?: TSchema & { static: T };
  /** Defaults to `<host>-<pid>-<random>`: unique per process, as pending entries are tracked per consumer. */
  consumer?: string;
}

/**
 * Consumes `stream` as `group` from onReady to onClose, with `event_consumer_lag` on the
 * app's metrics. It depends on the mysql and redis plugins, so it is registered after them
 * and Fastify closes it first: the handler in flight finishes (and acks) before they close.
 * The handler must be idempotent: delivery is at least once.
 */
export async function registerEventConsumer<T>(app: FastifyInstance, opts: EventConsumerOptions<T>): Promise<EventConsumer> {
  const { streams, schema, consumer: name = consumerName(), ...consume } = opts;
  let consumer: Consumer | undefined;
  let started = (_: Consumer): void => undefined;
  const running = new Promise<Consumer>((resolve) => (started = resolve));
  const handle: EventConsumer = Object.freeze({
    stream: opts.stream,
    group: opts.group,
    ready: running.then((c) => c.ready),
    stats: () => consumer?.stats(),
    async lag() {
      const lag = await consumer?.lag();
      return lag ? lag.pending + (lag.lag ?? 0) : undefined;
    },
  });

  async function plugin(instance: FastifyInstance): Promise<void> {
    const log = instance.log.child({ component: 'event-consumer', stream: opts.stream, group: opts.group });
    const handler = schema ? understoodOnly(schema, consume.handler, log) : consume.handler;
    instance.addHook('onReady', async () => {
      consumer = streams.consume<T>({ ...consume, consumer: name, handler });
      started(consumer);
    });
    instance.addHook('onClose', async () => {
      await consumer?.stop();
    });
    if (!instance.hasDecorator('eventConsumers')) instance.decorate('eventConsumers', []);
    (instance.eventConsumers as EventConsumer[]).push(handle);
    if (instance.hasDecorator('metrics')) watchLag(instance.metrics, handle);
  }
  const pluginName = `event-consumer:${opts.stream}:${opts.group}`;
  await app.register(fp(plugin, { name: pluginName, fastify: '5.x', dependencies: ['mysql', 'redis'] }));
  return handle;
}

function consumerName(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

type Handler<T> = (event: StreamEvent<T>) => Promise<void>;

/** Acks, unhandled, an entry the schema does not describe: redelivering it would not help. */
function understoodOnly<T>(schema: TSchema, handler: Handler<T>, log: FastifyInstance['log']): Handler<T> {
  return async (event) => {
    if (parseEvent(schema, event.data) !== undefined) return handler(event);
    const type = (event.data as { type?: unknown } | null)?.type;
    log.warn({ streamEntry: event.id, type: typeof type === 'string' ? type : undefined }, 'event not understood; acked without handling');
  };
}

/** One gauge per registry, however many consumers report to it. */
const lagSources = new WeakMap<Registry, EventConsumer[]>();

function watchLag(registry: Registry, consumer: EventConsumer): void {
  let sources = lagSources.get(registry);
  if (!sources) {
    const list: EventConsumer[] = (sources = []);
    lagSources.set(registry, list);
    new Gauge({
      name: 'event_consumer_lag',
      help: 'Entries of the stream the consumer group has not acked yet: pending plus not yet delivered',
      labelNames: ['stream', 'group'] as const,
      registers: [registry],
      // A scrape while Redis is down leaves the series out rather than failing /metrics.
      async collect() {
        this.reset();
        const lags = await Promise.all(list.map(async (c) => ({ c, lag: await c.lag().catch(() => undefined) })));
        for (const { c, lag } of lags) if (lag !== undefined) this.set({ stream: c.stream, group: c.group }, lag);
      },
    });
  }
  sources.push(consumer);
}
