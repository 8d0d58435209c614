import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { applyRouteDoc, components, routeDoc, ROUTE_DOC_KEY, type AnswersOf, type RouteDoc, type Used } from './openapi';

export interface DocsOptions {
  title: string;
  description: string;
  version: string;
  /** The service's default port (its PORT default), for the document's `servers`. */
  defaultPort?: number;
  /** The tags the service's routes use, each with what it groups. */
  tags?: readonly { name: string; description: string }[];
}

declare module 'fastify' {
  interface FastifyInstance {
    openapi: {
      /** Adds what a plugin in front of the routes answers to each route's OpenAPI entry (see openapi.ts). */
      describe(answersOf: AnswersOf): void;
    };
  }
}

const HEALTH_TAG = { name: 'health', description: 'Liveness and readiness probes.' };

type Json = Record<string, unknown>;

/**
 * OpenAPI 3 generated from the route schemas; UI at /docs, document at /docs/json. Each route's
 * answers are merged (openapi.ts) when the document is first built, after every route is known.
 */
async function docsPlugin(app: FastifyInstance, opts: DocsOptions): Promise<void> {
  const answersOf: AnswersOf[] = [];
  app.decorate('openapi', { describe: (of: AnswersOf) => void answersOf.push(of) });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: opts.title,
        description: opts.description,
        version: opts.version,
        license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
      },
      // Relative first, so Swagger UI's "Try it out" calls the instance that serves it, on any port.
      servers: [
        { url: '/', description: 'The instance serving this document' },
        ...(opts.defaultPort ? [{ url: `http://127.0.0.1:${opts.defaultPort}`, description: 'The default local address' }] : []),
      ],
      tags: [...(opts.tags ?? []), HEALTH_TAG],
    },
    transform: ({ schema, url, route }) => {
      // Security goes in with the rest of the answers below, once the document knows its schemes.
      const { security: _security, responseHeaders: _headers, optionalBody: _optional, ...rest } = schema ?? {};
      return { schema: { ...rest, [ROUTE_DOC_KEY]: routeDoc(route, answersOf) }, url };
    },
    transformObject: (documentObject) => {
      const doc = (documentObject as { openapiObject: Json & { paths?: Record<string, Record<string, Json>>; components?: Json } }).openapiObject;
      const used: Used = { problem: false, bearer: false, headers: new Set(), parameters: new Set() };
      for (const operations of Object.values(doc.paths ?? {})) {
        for (const operation of Object.values(operations)) {
          const routeDocOf = operation[ROUTE_DOC_KEY] as RouteDoc | undefined;
          if (!routeDocOf) continue;
          delete operation[ROUTE_DOC_KEY];
          applyRouteDoc(operation, routeDocOf, used);
        }
      }
      const schemas = (doc.components?.['schemas'] ?? {}) as Json;
      const shared = components(used);
      doc.components = { ...shared, schemas: { ...schemas, ...(shared['schemas'] as Json | undefined) } };
      if (Object.keys((doc.components as Json)['schemas'] as Json).length === 0) delete (doc.components as Json)['schemas'];
      return doc;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });
}

export const docs = fp(docsPlugin, { name: 'docs', fastify: '5.x' });
