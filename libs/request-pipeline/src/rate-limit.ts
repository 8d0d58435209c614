import type { RateLimiter, RateLimitPolicy, RateLimitResult } from '@platform/redis';
import type { FastifyRequest } from 'fastify';
import { rateLimited } from './problems';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The rate-limit policy of this route, or `false` for none (routes outside the limited prefix opt in this way). */
    rateLimit?: string | false;
  }
}

type Route = FastifyRequest['routeOptions'];

/**
 * The rate-limit steps of the pipeline: which policy a route has, and the step itself, which
 * answers the draft-ietf-httpapi-ratelimit-headers fields or throws the 429. The budgets are
 * the limiter's (libs/redis), on the keys every service shares: one budget per user or
 * address across the platform.
 */
export interface RateLimits {
  /** The route's policy, or undefined when it is not limited. */
  policyOf(route: Route, url: string): string | undefined;
  /** One step of `subject` (`user:<id>` or `ip:<address>`): its fields, or a thrown 429. */
  take(policy: string, subject: string): Promise<Record<string, string>>;
  /** A step already taken (by the admission script): its fields, or a thrown 429. */
  answer(policy: string, result: RateLimitResult): Record<string, string>;
}

export const RATE_LIMIT_DEFAULTS = Object.freeze({ defaultPolicy: 'default', prefix: '/v1' });

/** A structured-field string (RFC 8941): the policy names are ours, but quote them properly anyway. */
const sfString = (value: string) => `"${value.replace(/[\\"]/g, '\\$&')}"`;

export function rateLimits(limiter: RateLimiter, prefix: string = RATE_LIMIT_DEFAULTS.prefix): RateLimits {
  const policies = limiter.policies as Readonly<Record<string, RateLimitPolicy | undefined>>;
  const { defaultPolicy } = RATE_LIMIT_DEFAULTS;
  if (!policies[defaultPolicy]) throw new RangeError(`rate-limit policy "${defaultPolicy}" is missing`);
  // Each policy's name as a structured-field string and its RateLimit-Policy field: the same on every answer.
  const named = new Map(
    Object.entries(policies).map(([name, p]) => [name, { quoted: sfString(name), field: `${sfString(name)};q=${p?.limit};w=${p?.windowSeconds}` }]),
  );

  function policyOf(route: Route, url: string): string | undefined {
    const chosen = route.config.rateLimit;
    if (chosen !== undefined) return chosen === false ? undefined : chosen;
    // Unmatched URLs under the prefix count too: a scan of 404s is still traffic.
    const path = route.url ?? url;
    return path === prefix || path.startsWith(`${prefix}/`) ? defaultPolicy : undefined;
  }

  function answer(policy: string, result: RateLimitResult): Record<string, string> {
    const names = named.get(policy);
    if (!names) throw new RangeError(`unknown rate-limit policy "${policy}"`);
    const fields: Record<string, string> = { 'ratelimit-policy': names.field };
    // Failing open, Redis gave no figures; saying nothing beats making some up.
    if (!result.degraded) fields['ratelimit'] = `${names.quoted};r=${result.remaining};t=${result.resetSeconds}`;
    if (result.allowed) return fields;
    throw rateLimited(result.retryAfterSeconds, { ...fields, 'retry-after': String(result.retryAfterSeconds) });
  }

  return Object.freeze({
    policyOf,
    answer,
    take: async (policy: string, subject: string) => answer(policy, await limiter.check(policy, subject)),
  });
}
