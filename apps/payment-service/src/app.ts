import { jwksKeySource, registerGuard } from '@platform/auth';
import { mysql, mysqlOptions } from '@platform/db';
import { redis, redisOptions } from '@platform/redis';
import { PLATFORM_VERSION, serviceDefaults, type AppOptions } from '@platform/service-kit';
import type { FastifyInstance } from 'fastify';
import { ConfigSchema, type Config } from './config';

export const SERVICE = 'payment-service';

/** payment-service: Charges each order once through the payment provider, and refunds. */
export default async function paymentService(app: FastifyInstance, { config, defaultMetrics }: AppOptions<Config>) {
  await app.register(serviceDefaults, {
    service: SERVICE,
    title: SERVICE,
    description: 'Charges each order once through the payment provider, and refunds.',
    version: PLATFORM_VERSION,
    defaultMetrics,
  });
  await app.register(mysql, mysqlOptions(config));
  await app.register(redis, redisOptions(config, SERVICE));
  // Access tokens are user-service's, verified here with its published keys.
  await registerGuard(app, config, jwksKeySource({ url: new URL('/.well-known/jwks.json', config.USER_SERVICE_URL).toString(), logger: app.log }));
}

export const definition = { service: SERVICE, configSchema: ConfigSchema, plugin: paymentService };
