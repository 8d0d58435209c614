import { PLATFORM_VERSION, serviceDefaults, type AppOptions } from '@platform/service-kit';
import type { FastifyInstance } from 'fastify';
import { ConfigSchema, type Config } from './config';
import { providerRoutes } from './routes/provider';
import { createSandbox } from './sandbox';

export const SERVICE = 'gateway-sandbox';

/**
 * gateway-sandbox: a stand-in for the payment provider, answering by test card
 * token as a provider's test mode does. It keeps no MySQL schema: its ledger lives in
 * memory and a restart forgets it.
 */
export default async function gatewaySandbox(app: FastifyInstance, { config, defaultMetrics }: AppOptions<Config>) {
  await app.register(serviceDefaults, {
    service: SERVICE,
    title: SERVICE,
    description: 'A sandbox payment provider for development and tests.',
    version: PLATFORM_VERSION,
    defaultMetrics,
    defaultPort: ConfigSchema.properties.PORT.default,
    tags: [
      { name: 'charges', description: 'Charges of test card tokens, and their cancellation.' },
      { name: 'refunds', description: 'Refunds of charges.' },
    ],
  });
  const sandbox = createSandbox({ latencyMs: config.GATEWAY_LATENCY_MS, failureRate: config.GATEWAY_FAILURE_RATE, registry: app.metrics });
  await app.register(providerRoutes, { sandbox });
}

export const definition = { service: SERVICE, configSchema: ConfigSchema, plugin: gatewaySandbox };
