import { DependencyUnavailableError, HttpProblem } from '@platform/service-kit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { RedisUnavailableError } from './errors';
import type { RateLimiter, RateLimitPolicy, RateLimitResult } from './rate-limiter';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The rate-limit policy of this route, or `false` for none (routes outside the limited prefix opt in this way). */
    rateLimit?: string | false;
  }
  interface FastifyInstance {
    /** The limiter behind the plugin, for a hook that checks the limit itself (see `rateLimitResult`). */
    rateLimiter: RateLimiter;
    /**
     * The policy that applies to this request, or undefined when it is not limited. `route` is
     * the request's routeOptions when the caller has read them already (a getter that builds them anew).
     */
    rateLimitPolicyOf(request: FastifyRequest, route?: FastifyRequest['routeOptions']): string | undefined;
  }
  interface FastifyRequest {
    /**
     * Set by an earlier onRequest hook that has already checked this request's policy for
     * its subject (token verification does, in the same round trip as the revocation
     * check): the plugin then answers from it instead of asking Redis again.
     */
    rateLimitResult?: SettledRateLimit;
  }
}

export interface SettledRateLimit {
  policy: string;
  result: RateLimitResult;
}

export interface RateLimitPluginOptions {
  limiter: RateLimiter;
  /** The policy of a limited route that names none. */
  defaultPolicy?: string;
  /** Routes under this path are limited unless they opt out; health, metrics and docs live outside it. */
  prefix?: string;
}

export const RATE_LIMIT_PLUGIN_DEFAULTS = Object.freeze({ defaultPolicy: 'default', prefix: '/v1' });

/** A structured-field string (RFC 8941): the policy names are ours, but quote them properly anyway. */
const sfString = (value: string) => `"${value.replace(/[\\"]/g, '\\$&')}"`;

/** A policy's name as a structured-field string, and its RateLimit-Policy field: the same on every answer, so built once. */
const fieldsOf = new WeakMap<RateLimitPolicy, { name: string; quoted: string; policy: string }>();
function policyFields(name: string, policy: RateLimitPolicy): { quoted: string; policy: string } {
  let fields = fieldsOf.get(policy);
  if (fields?.name !== name) {
    const quoted = sfString(name);
    fields = { name, quoted, policy: `${quoted};q=${policy.limit};w=${policy.windowSeconds}` };
    fieldsOf.set(policy, fields);
  }
  return fields;
}

/** The draft-ietf-httpapi-ratelimit-headers fields for one policy and one answer. */
export function rateLimitHeaders(name: string, policy: RateLimitPolicy, result: RateLimitResult): Record<string, string> {
  const { quoted, policy: policyField } = policyFields(name, policy);
  const headers: Record<string, string> = { 'ratelimit-policy': policyField };
  // Failing open, Redis gave no figures; saying nothing beats making some up.
  if (!result.degraded) headers['ratelimit'] = `${quoted};r=${result.remaining};t=${result.resetSeconds}`;
  if (!result.allowed) headers['retry-after'] = String(result.retryAfterSeconds);
  return headers;
}

/** The 429 answer for a refused check, with its RateLimit fields and Retry-After. */
export function rateLimitedProblem(name: string, policy: RateLimitPolicy, result: RateLimitResult): HttpProblem {
  return new HttpProblem({
    status: 429,
    code: 'RATE_LIMITED',
    detail: `Too many requests; retry in ${result.retryAfterSeconds} s.`,
    headers: rateLimitHeaders(name, policy, result),
  });
}

/** A signed-in caller is limited as a user wherever they connect from; anyone else by address. */
export function rateLimitSubject(request: FastifyRequest): string {
  return request.auth ? `user:${request.auth.userId}` : `ip:${request.ip}`;
}

/**
 * Applies the limiter to every route under the prefix, before the body is even read.
 * Hooks run in registration order: register the token verification plugin first so
 * `request.auth` is there to key by.
 */
async function rateLimitPlugin(app: FastifyInstance, opts: RateLimitPluginOptions): Promise<void> {
  const { limiter } = opts;
  const defaultPolicy = opts.defaultPolicy ?? RATE_LIMIT_PLUGIN_DEFAULTS.defaultPolicy;
  const prefix = opts.prefix ?? RATE_LIMIT_PLUGIN_DEFAULTS.prefix;
  const policies = limiter.policies as Readonly<Record<string, RateLimitPolicy | undefined>>;
  if (!policies[defaultPolicy]) throw new RangeError(`rate-limit default policy "${defaultPolicy}" is not among the limiter's policies`);

  // A typo in a route's policy name shows at start-up, not on its first request.
  app.addHook('onRoute', (route) => {
    const chosen = route.config?.rateLimit;
    if (typeof chosen === 'string' && !policies[chosen]) {
      throw new RangeError(`route ${route.method} ${route.url} names unknown rate-limit policy "${chosen}"`);
    }
  });

  // routeOptions is a getter that builds a new object on every read: read it once.
  function policyOf(request: FastifyRequest, route: FastifyRequest['routeOptions'] = request.routeOptions): string | undefined {
    const chosen = route.config.rateLimit;
    if (chosen === false) return undefined;
    if (chosen !== undefined) return chosen;
    // Unmatched URLs under the prefix count too: a scan of 404s is still traffic.
    const path = route.url ?? request.url;
    return path === prefix || path.startsWith(`${prefix}/`) ? defaultPolicy : undefined;
  }

  app.decorate('rateLimiter', limiter);
  app.decorate('rateLimitPolicyOf', policyOf);
  app.decorateRequest('rateLimitResult', undefined);

  // A callback hook: most requests were checked by the token hook already, and an async hook
  // would cost each of them a promise for nothing.
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    // Checked already by an earlier hook, for this very policy: one check per request.
    const settled = request.rateLimitResult;
    const name = settled?.policy ?? policyOf(request);
    if (name === undefined) return done();
    const policy = policies[name];
    if (!policy) return done(new Error(`route ${request.routeOptions.url ?? request.url} names unknown rate-limit policy "${name}"`));
    const answer = (result: RateLimitResult) => {
      if (!result.allowed) return done(rateLimitedProblem(name, policy, result));
      reply.headers(rateLimitHeaders(name, policy, result));
      done();
    };
    if (settled) return answer(settled.result);
    limiter.check(name, rateLimitSubject(request)).then(answer, (err: unknown) => {
      done(err instanceof RedisUnavailableError ? new DependencyUnavailableError('redis', { cause: err }) : (err as Error));
    });
  });
}

export const rateLimit = fp(rateLimitPlugin, { name: 'rate-limit', fastify: '5.x' });
