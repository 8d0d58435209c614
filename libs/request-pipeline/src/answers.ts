import type { RateLimitPolicy } from '@platform/redis';
import { UNAVAILABLE, type AnswersOf, type ProblemSpec } from '@platform/service-kit';
import type { RouteOptions } from 'fastify';
import { RATE_LIMIT_DEFAULTS } from './rate-limit';

/**
 * What the pipeline answers on each route, for its OpenAPI entry (the kit's `app.openapi`): the
 * token's 401 and 503, the rate limit's 429 and RateLimit fields, on the routes whose requests
 * take those steps (pipeline.ts, rate-limit.ts). Idempotency says its own (idempotency.ts).
 */
export function pipelineAnswers(prefix: string, policies: Readonly<Record<string, RateLimitPolicy>>): AnswersOf {
  const underPrefix = (url: string) => url === prefix || url.startsWith(`${prefix}/`);
  return (route: RouteOptions) => {
    const chosen = route.config?.rateLimit;
    const policy = chosen === false ? undefined : (chosen ?? (underPrefix(route.url) ? RATE_LIMIT_DEFAULTS.defaultPolicy : undefined));
    const needsToken = route.config?.auth !== false && underPrefix(route.url);
    if (policy === undefined && !needsToken) return undefined;
    const limited = policy !== undefined;
    const problems: Record<number, ProblemSpec> = {};
    if (limited) problems[429] = { codes: ['RATE_LIMITED'], headers: ['Retry-After'] };
    if (needsToken) problems[401] = { codes: ['UNAUTHORIZED'], headers: ['WWW-Authenticate'] };
    // Revocation or the login throttle cannot be asked (failing closed), or the signing keys cannot be fetched.
    if (needsToken || (limited && policies[policy]?.failMode === 'closed')) problems[503] = UNAVAILABLE;
    return {
      problems,
      // On every answer of a limited route, the 401 of a refused token included.
      headers: limited ? ['RateLimit', 'RateLimit-Policy'] : [],
      security: needsToken ? 'bearer' : undefined,
    };
  };
}
