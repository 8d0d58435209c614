import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { cors } from './cors';
import { errorHandler } from './error-handler';
import { health } from './health';
import { metrics } from './metrics';
import { REQUEST_ID_HEADER } from './request-id';
import { docs } from './swagger';
import { PLATFORM_VERSION } from './version';

export interface ServiceDefaultsOptions {
  service: string;
  /** The OpenAPI document's title; the service's name unless given. */
  title?: string;
  description: string;
  /** The OpenAPI document's version; the platform's unless given. */
  version?: string;
  defaultMetrics?: boolean;
  /** The service's default port (its PORT default), for the OpenAPI document's `servers`. */
  defaultPort?: number;
  /** The OpenAPI tags its routes use, each with what it groups. */
  tags?: readonly { name: string; description: string }[];
  /** CORS_ALLOWED_ORIGINS: the origins browsers may call from; unset, none (see cors.ts). */
  corsAllowedOrigins?: string;
}

/**
 * What every service has in common: request ids, problem+json errors (404 and 405 included),
 * CORS, metrics, OpenAPI docs and health endpoints. Registered first, before any route: the
 * error handler's table of routes sees every route after it, and CORS answers a preflight
 * before the request pipeline's hooks.
 */
async function serviceDefaultsPlugin(app: FastifyInstance, opts: ServiceDefaultsOptions): Promise<void> {
  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });
  await app.register(errorHandler);
  await app.register(cors, { allowedOrigins: opts.corsAllowedOrigins });
  await app.register(metrics, { service: opts.service, defaultMetrics: opts.defaultMetrics });
  await app.register(docs, {
    title: opts.title ?? opts.service,
    description: opts.description,
    version: opts.version ?? PLATFORM_VERSION,
    defaultPort: opts.defaultPort,
    tags: opts.tags,
  });
  await app.register(health);
}

export const serviceDefaults = fp(serviceDefaultsPlugin, { name: 'service-defaults', fastify: '5.x' });
