import { jwksKeySource, registerGuard } from '@platform/auth';
import { mysql, mysqlOptions } from '@platform/db';
import { eventStreams, PaymentEvent, registerEventConsumer, registerOutboxRelay, STREAMS } from '@platform/events';
import { idempotency, redis, redisOptions } from '@platform/redis';
import { PLATFORM_VERSION, serviceDefaults, type AppOptions } from '@platform/service-kit';
import type { FastifyInstance } from 'fastify';
import { ConfigSchema, type Config } from './config';
import { paymentEventHandler } from './events/payment-events';
import { createOrders } from './orders/orders';
import { ordersRepository } from './orders/orders-repository';
import { orderRoutes } from './routes/orders';

export const SERVICE = 'order-service';

/** CONTRACT.md, Caching: orders are served from Redis for 10 minutes. */
const ORDER_CACHE_TTL_SECONDS = 600;

/** order-service: Orders with their items, paged by cursor, moved by payment events. */
export default async function orderService(app: FastifyInstance, { config, defaultMetrics }: AppOptions<Config>) {
  await app.register(serviceDefaults, {
    service: SERVICE,
    title: SERVICE,
    description: 'Orders with their items, paged by cursor, moved by payment events.',
    version: PLATFORM_VERSION,
    defaultMetrics,
  });
  await app.register(mysql, mysqlOptions(config));
  await app.register(redis, redisOptions(config, SERVICE));
  // Access tokens are user-service's, verified here with its published keys.
  await registerGuard(app, config, jwksKeySource({ url: new URL('/.well-known/jwks.json', config.USER_SERVICE_URL).toString(), logger: app.log }));
  await app.register(idempotency);

  const repository = ordersRepository(() => app.db);
  const orders = createOrders(app, repository, { cacheTtlSeconds: ORDER_CACHE_TTL_SECONDS });
  await app.register(orderRoutes, { orders });

  // Events: payment outcomes in, refund requests for cancelled orders out (via the outbox).
  const streams = eventStreams({ client: app.redis, prefix: config.EVENTS_REDIS_KEY_PREFIX, registry: app.metrics, logger: app.log });
  await registerOutboxRelay(app, { dataSource: () => app.db, streams, replayWindowSeconds: config.EVENTS_REPLAY_WINDOW_SECONDS });
  const handlePaymentEvent = paymentEventHandler({
    ds: () => app.db,
    orders: repository,
    invalidate: orders.invalidate,
    nudgeOutbox: () => app.outbox.nudge(),
    log: app.log,
  });
  await registerEventConsumer(app, {
    streams,
    stream: STREAMS.payments,
    group: SERVICE,
    claimIdleMs: config.EVENTS_CLAIM_IDLE_MS,
    // Entries that are not payment events are acked and logged, never handed to the handler.
    schema: PaymentEvent,
    handler: async (event) => void (await handlePaymentEvent(event)),
  });
}

export const definition = { service: SERVICE, configSchema: ConfigSchema, plugin: orderService };
