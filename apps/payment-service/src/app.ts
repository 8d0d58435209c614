import { userServiceKeys } from '@platform/auth';
import { markWriters, mysql, mysqlOptions, readRouter, writeMarkTtlMs } from '@platform/db';
import { RefundRequested, registerServiceEvents, STREAMS } from '@platform/events';
import { createWriteMarks, keySpace } from '@platform/redis';
import { pipeline, pipelineOptions, vouching } from '@platform/request-pipeline';
import { peerOptions, peers, redis, redisOptions, serviceDefaults, type AppOptions } from '@platform/service-kit';
import type { FastifyInstance } from 'fastify';
import { ConfigSchema, type Config } from './config';
import { refundRequestHandler } from './events/refund-requests';
import { httpGateway } from './gateway/http-gateway';
import { orderClient } from './payments/order-client';
import { createPayments } from './payments/payments';
import { paymentsRepository } from './payments/payments-repository';
import { startRecovery } from './payments/recovery';
import { paymentRoutes } from './routes/payments';

export const SERVICE = 'payment-service';

/** payment-service: Charges each order once through the payment provider, and refunds. */
export default async function paymentService(app: FastifyInstance, { config, defaultMetrics }: AppOptions<Config>) {
  await app.register(serviceDefaults, {
    service: SERVICE,
    description: 'Charges each order once through the payment provider, and refunds.',
    defaultMetrics,
    corsAllowedOrigins: config.CORS_ALLOWED_ORIGINS,
    defaultPort: ConfigSchema.properties.PORT.default,
    tags: [{ name: 'payments', description: 'The signed-in user’s payments and refunds.' }],
  });
  await app.register(mysql, mysqlOptions(config));
  await app.register(redis, redisOptions(config, SERVICE));
  await app.register(peers, peerOptions(config));
  const admission = pipelineOptions(config, userServiceKeys(config.USER_SERVICE_URL, app.peers, app.log));
  await app.register(pipeline, admission);

  const gateway = httpGateway({
    baseUrl: config.PAYMENT_GATEWAY_URL,
    connectTimeoutMs: config.GATEWAY_CONNECT_TIMEOUT_MS,
    timeoutMs: config.GATEWAY_TIMEOUT_MS,
    maxAttempts: config.GATEWAY_MAX_ATTEMPTS,
  });
  app.addHook('onClose', () => gateway.close());

  // With replicas: payment reads may go to one; a payer's and refunder's marks keep read-your-writes
  // here and in order-service, which reads the same marks (ADR 0020).
  const marks = app.replicas
    ? createWriteMarks({ client: app.redis, keys: keySpace(config.AUTH_REDIS_KEY_PREFIX), ttlMs: writeMarkTtlMs(config.DB_REPLICA_MAX_LAG_MS) })
    : undefined;
  markWriters(app, marks);

  const repository = paymentsRepository(() => app.db, app.oneTrip);
  const payments = createPayments({
    ds: () => app.db,
    reads: readRouter(() => app.db, app.replicas, marks, app.metrics),
    repository,
    gateway,
    orders: orderClient(config.ORDER_SERVICE_URL, app.peers, vouching(admission.peerSecrets ?? [])),
    nudgeOutbox: () => app.outbox.nudge(),
    log: app.log,
    staleAfterMs: config.PAYMENT_STALE_AFTER_MS,
  });
  await app.register(paymentRoutes, { payments });

  // Compensation in: a payment that succeeded for an order cancelled meanwhile is refunded.
  // Payment outcomes out, through the outbox.
  const handler = refundRequestHandler({ payments, repository, log: app.log });
  await registerServiceEvents(app, { config, group: SERVICE, consume: { stream: STREAMS.refundRequests, schema: RefundRequested, handler } });

  startRecovery(app, payments, config.PAYMENT_RECOVERY_INTERVAL_MS);
}

export const definition = { service: SERVICE, configSchema: ConfigSchema, plugin: paymentService };
