import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { errorHandler } from './error-handler';
import { health } from './health';
import { metrics } from './metrics';
import { REQUEST_ID_HEADER } from './request-id';
import { docs } from './swagger';

export interface ServiceDefaultsOptions {
  service: string;
  title: string;
  description: string;
  version: string;
  defaultMetrics?: boolean;
}

/**
 * What every service has in common: request ids, problem+json errors, metrics,
 * OpenAPI docs and health endpoints. Registered first, before any route.
 */
async function serviceDefaultsPlugin(app: FastifyInstance, opts: ServiceDefaultsOptions): Promise<void> {
  // A callback hook: an async one costs every request a promise.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  await app.register(errorHandler);
  await app.register(metrics, { service: opts.service, defaultMetrics: opts.defaultMetrics });
  await app.register(docs, { title: opts.title, description: opts.description, version: opts.version });
  await app.register(health);
}

export const serviceDefaults = fp(serviceDefaultsPlugin, { name: 'service-defaults', fastify: '5.x' });
