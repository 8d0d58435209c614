import type { FastifyInstance } from 'fastify';
import FindMyWay from 'find-my-way';

/** Fastify's router options, which the table below must share to match the same paths. */
export const ROUTER_OPTIONS = Object.freeze({ maxParamLength: 256 });

/** The order methods are listed in an `Allow` field. */
const ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const byOrder = (a: string, b: string) => (ORDER.indexOf(a) + 1 || ORDER.length + 1) - (ORDER.indexOf(b) + 1 || ORDER.length + 1);

/** A route that matches every path (`*`, such as @fastify/cors's OPTIONS): its method is served on every known path. */
const everywhere = (url: string) => url === '*' || url === '/*';

/**
 * Which methods a path is served with, from the routes as they are registered (onRoute,
 * Fastify's own HEAD for each GET included), matched by find-my-way as Fastify's router
 * matches them, so `/v1/orders/abc` is the known path `/v1/orders/:id`. Empty for an
 * unknown path. Installed on the root instance before any route.
 */
export function routeMethods(app: FastifyInstance): (url: string) => string[] {
  const router = FindMyWay({ ...ROUTER_OPTIONS });
  const methods = new Set<string>();
  const onEveryPath = new Set<string>();
  const noop = () => undefined;

  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (everywhere(route.url)) {
        onEveryPath.add(method);
        continue;
      }
      methods.add(method);
      // The same method and path twice (constraints apart) is Fastify's to refuse or allow, not ours.
      if (!router.hasRoute(method as FindMyWay.HTTPMethod, route.url)) router.on(method as FindMyWay.HTTPMethod, route.url, noop);
    }
  });

  return (url) => {
    const path = url.split('?')[0] ?? '';
    const served = [...methods].filter((m) => router.find(m as FindMyWay.HTTPMethod, path) !== null);
    return served.length === 0 ? [] : [...new Set([...served, ...onEveryPath])].sort(byOrder);
  };
}
