import { PLATFORM_VERSION, serviceDefaults, type AppOptions } from '@platform/service-kit';
import type { FastifyInstance } from 'fastify';
import { ConfigSchema, type Config } from './config';

export const SERVICE = 'gateway-sandbox';

/**
 * gateway-sandbox: a stand-in for the payment provider, answering by test card
 * token as a provider's test mode does. It keeps no MySQL schema.
 */
export default async function gatewaySandbox(app: FastifyInstance, { defaultMetrics }: AppOptions<Config>) {
  await app.register(serviceDefaults, {
    service: SERVICE,
    title: SERVICE,
    description: 'A sandbox payment provider for development and tests.',
    version: PLATFORM_VERSION,
    defaultMetrics,
  });
}

export const definition = { service: SERVICE, configSchema: ConfigSchema, plugin: gatewaySandbox };
