import { createTokenVerifier, type KeySource, type VerifiedToken } from '@platform/auth';
import { createAdmission, createRateLimiter, createRevocation, keySpace, type FailMode, type RateLimitPolicy, type Revocation } from '@platform/redis';
import type { AuthContext } from '@platform/service-kit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { pipelineAnswers } from './answers';
import { idempotency, type IdempotencyOptions } from './idempotency';
import { peerChecker } from './peer';
import { unauthorized, type TokenRefusal } from './problems';
import { rateLimits, RATE_LIMIT_DEFAULTS } from './rate-limit';
import { watchRevocationMarker } from './revocation-marker';
import { tokenReader } from './token';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false`: a route under the prefix that anyone may call (register, login, JWKS). */
    auth?: boolean;
    /**
     * Redis keys the route reads for this request, read in the admission script with the token's
     * check, so that e.g. a cache hit costs no command of its own. The handler gets the values
     * from `readAheadOf(request)`; undefined when they were not read (a cluster, Redis failing).
     */
    readAhead?: (request: FastifyRequest) => readonly string[] | undefined;
  }
  interface FastifyInstance {
    /** Revocation on the shared auth keys: what user-service writes, every service checks. */
    revocation: Revocation;
  }
  interface FastifyRequest {
    /** What the route's `readAhead` keys held (see `readAheadOf`). */
    readAhead?: (string | null)[];
  }
}

export interface RequestPipelineOptions {
  /** Where the token's signing keys come from (user-service's JWKS, or its own ring). */
  keys: KeySource;
  issuer: string;
  audience: string;
  /**
   * AUTH_REDIS_KEY_PREFIX, the same in every service: the revocation marks user-service writes,
   * and the rate-limit budgets, one per user or address across the whole platform.
   */
  sharedKeyPrefix: string;
  /** REVOCATION_FAIL_MODE: when Redis cannot be asked, `closed` answers 503 and `open` trusts the signature. */
  failMode: FailMode;
  /** The rate-limit policies; `default` applies to every route under the prefix that names none. */
  policies: Readonly<Record<string, RateLimitPolicy>>;
  /** Routes under it pass the pipeline; health, metrics and docs live outside it. */
  prefix?: string;
  /** How often the revocation marker is looked at (see revocation-marker.ts). */
  markerCheckMs?: number;
  /** PEER_SECRET's secrets (peer.ts `peerSecrets`): a request naming one was admitted by the service making it. */
  peerSecrets?: readonly string[];
  idempotency?: IdempotencyOptions;
}

type Route = FastifyRequest['routeOptions'];

export const PIPELINE_DEFAULTS = Object.freeze({ prefix: RATE_LIMIT_DEFAULTS.prefix, markerCheckMs: 250 });

/**
 * What every request under the prefix passes through, in this order:
 *   1. verify the Bearer token (unless the route says `auth: false`);
 *   2. check that it is not revoked;
 *   3. take a rate-limit step: the user's for a token that passed, the address's otherwise
 *      (a refused token is still a request, and guessing tokens must not be free);
 *   4. write the RateLimit fields on the answer, 401 and 429 included;
 *   5. idempotency, for routes that opt in (a preHandler: after validation, with the body).
 * Steps 2 and 3 go to Redis as one command for a verified token (libs/redis admission.ts), with
 * the reads a route declares (`config.readAhead`), whose values its handler then takes.
 * ADR 0007 has the figures that keep them one command. A verified token on a call another
 * service vouches for (peer.ts) skips steps 2 to 4: that service took them for this request.
 */
async function requestPipeline(app: FastifyInstance, opts: RequestPipelineOptions): Promise<void> {
  const prefix = opts.prefix ?? PIPELINE_DEFAULTS.prefix;
  const shared = { client: app.redis, keys: keySpace(opts.sharedKeyPrefix), registry: app.metrics, logger: app.log };
  const revocation = createRevocation({ ...shared, failMode: opts.failMode });
  const limiter = createRateLimiter({ ...shared, policies: opts.policies });
  const admission = createAdmission({ client: app.redis, revocation, limiter });
  const limits = rateLimits(limiter, prefix);
  const readToken = tokenReader(createTokenVerifier(opts));
  const vouched = peerChecker(opts.peerSecrets ?? []);
  app.decorate('revocation', revocation);
  app.decorateRequest('auth', undefined);
  app.decorateRequest('readAhead', undefined);
  watchRevocationMarker(app, revocation, opts.markerCheckMs ?? PIPELINE_DEFAULTS.markerCheckMs);

  const underPrefix = (url: string) => url === prefix || url.startsWith(`${prefix}/`);
  // Unmatched URLs (404s) need no token: there is nothing to protect.
  const needsToken = ({ url, config }: Route) => url !== undefined && config.auth !== false && underPrefix(url);

  app.addHook('onRoute', (route) => {
    // A typo in a route's policy name shows at start-up, not on its first request.
    const policy = route.config?.rateLimit;
    if (typeof policy === 'string' && !opts.policies[policy]) throw new RangeError(`route ${route.method} ${route.url} names unknown rate-limit policy "${policy}"`);
  });
  // The OpenAPI document says which routes want the token, and what these steps answer.
  app.openapi.describe(pipelineAnswers(prefix, opts.policies));

  /** Steps 3 and 4 for a request without a trusted token, then its 401. */
  async function refuse(request: FastifyRequest, policy: string | undefined, refusal: TokenRefusal): Promise<never> {
    throw unauthorized(refusal, policy === undefined ? {} : await limits.take(policy, `ip:${request.ip}`));
  }

  function signIn(request: FastifyRequest, token: VerifiedToken): void {
    request.auth = { userId: token.userId, sessionId: token.sessionId, tokenId: token.tokenId, expiresAt: token.expiresAt, issuedAtMs: token.issuedAtMs } satisfies AuthContext;
  }

  /** Steps 2 to 4 for a verified token; a route without a policy checks revocation alone. */
  async function admit(request: FastifyRequest, reply: FastifyReply, route: Route, policy: string | undefined, token: VerifiedToken): Promise<void> {
    const query = { userId: token.userId, sessionId: token.sessionId, jti: token.tokenId, issuedAtMs: token.issuedAtMs };
    const reads = route.config.readAhead?.(request);
    const { revoked, limit, reads: values } =
      policy === undefined ? { revoked: await revocation.isRevoked(query), limit: undefined, reads: undefined } : await admission.check(query, policy, reads);
    if (revoked) return refuse(request, policy, 'revoked');
    signIn(request, token);
    request.readAhead = values;
    if (policy !== undefined && limit) reply.headers(limits.answer(policy, limit));
  }

  app.addHook('onRequest', async (request, reply) => {
    // routeOptions is a getter that builds its object on every read: read once, passed on.
    const route = request.routeOptions;
    const policy = limits.policyOf(route, request.url);
    if (!needsToken(route)) {
      if (policy !== undefined) reply.headers(await limits.take(policy, `ip:${request.ip}`));
      return;
    }
    const reading = await readToken(request);
    if ('refusal' in reading) return refuse(request, policy, reading.refusal);
    if (vouched(request.headers)) return signIn(request, reading.token);
    await admit(request, reply, route, policy, reading.token);
  });

  await app.register(idempotency, { ...opts.idempotency, client: app.redis, keys: keySpace(app.redisKeyPrefix) });
}

export const pipeline = fp(requestPipeline, { name: 'request-pipeline', fastify: '5.x', dependencies: ['redis', 'docs'] });

/** The values of the route's `readAhead` keys for this request, in order; undefined when they were not read. */
export function readAheadOf(request: FastifyRequest): readonly (string | null)[] | undefined {
  return request.readAhead;
}

/**
 * The caller of a route that requires a token. The pipeline has refused the request before
 * the handler otherwise, so a missing `auth` here is a wiring bug (500).
 */
export function signedIn(request: { auth?: AuthContext }): AuthContext {
  if (!request.auth) throw new Error('authenticated route reached without request.auth');
  return request.auth;
}
