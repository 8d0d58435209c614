import { userServiceKeys } from '@platform/auth';
import { markWriters, mysql, mysqlOptions, readRouter, writeMarkTtlMs } from '@platform/db';
import { PaymentEvent, registerServiceEvents, STREAMS } from '@platform/events';
import { pipeline, pipelineOptions } from '@platform/request-pipeline';
import { createWriteMarks, keySpace } from '@platform/redis';
import { peerOptions, peers, redis, redisOptions, serviceDefaults, type AppOptions } from '@platform/service-kit';
import type { FastifyInstance } from 'fastify';
import { ConfigSchema, type Config } from './config';
import { paymentEventHandler } from './events/payment-events';
import { createOrderFeed } from './live/order-feed';
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
    description: 'Orders with their items, paged by cursor, moved by payment events.',
    defaultMetrics,
    corsAllowedOrigins: config.CORS_ALLOWED_ORIGINS,
    defaultPort: ConfigSchema.properties.PORT.default,
    tags: [{ name: 'orders', description: 'The signed-in user’s orders.' }],
  });
  await app.register(mysql, mysqlOptions(config));
  await app.register(redis, redisOptions(config, SERVICE));
  await app.register(peers, peerOptions(config));
  await app.register(pipeline, pipelineOptions(config, userServiceKeys(config.USER_SERVICE_URL, app.peers, app.log)));

  // With replicas: reads that may go to one, and the marks that keep read-your-writes (ADR 0020).
  const marks = app.replicas
    ? createWriteMarks({ client: app.redis, keys: keySpace(config.AUTH_REDIS_KEY_PREFIX), ttlMs: writeMarkTtlMs(config.DB_REPLICA_MAX_LAG_MS) })
    : undefined;
  markWriters(app, marks);
  const reads = readRouter(() => app.db, app.replicas, marks, app.metrics);

  const repository = ordersRepository(() => app.db, app.oneTrip);
  const feed = createOrderFeed(app, { orders: repository, revocation: app.revocation });
  const orders = createOrders(app, repository, { cacheTtlSeconds: ORDER_CACHE_TTL_SECONDS, announce: feed.announce, reads, marks });
  await app.register(orderRoutes, { orders, feed });

  // Payment outcomes in; refund requests for orders cancelled meanwhile out, through the outbox.
  const handler = paymentEventHandler({ ds: () => app.db, orders: repository, changed: orders.changed, nudgeOutbox: () => app.outbox.nudge(), log: app.log });
  await registerServiceEvents(app, { config, group: SERVICE, consume: { stream: STREAMS.payments, schema: PaymentEvent, handler } });
}

export const definition = { service: SERVICE, configSchema: ConfigSchema, plugin: orderService };
