import {
  createRequestGuard,
  createRevocation,
  keySpace,
  logThrottle,
  rateLimitHeaders,
  rateLimitedProblem,
  type FailMode,
  type Prefetch,
  type RequestGuard,
  type Revocation,
} from '@platform/redis';
import { HttpProblem, type AuthContext } from '@platform/service-kit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { KeySource } from './key-source';
import { createTokenVerifier, InvalidTokenError, type VerifiedToken } from './verifier';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false`: a route under the prefix that anyone may call (register, login, JWKS). */
    auth?: boolean;
    /**
     * The route's own Redis reads, made by the script of the revocation and rate-limit
     * check, so that e.g. a cache hit costs the request no second command. Runs for a token
     * that verified, before it is known to be unrevoked: what it reads is used only if the
     * request goes on. Undefined: nothing to read ahead for this request.
     */
    prefetch?: (request: FastifyRequest) => Prefetch | undefined;
  }
  interface FastifyInstance {
    /** Revocation on the shared auth keys: what user-service writes, every service checks. */
    revocation: Revocation;
  }
}

export interface AuthPluginOptions {
  keys: KeySource;
  issuer: string;
  audience: string;
  /** AUTH_REDIS_KEY_PREFIX: the same in every service. */
  keyPrefix: string;
  /** REVOCATION_FAIL_MODE: when Redis cannot be asked, `closed` answers 503 and `open` trusts the signature. */
  failMode: FailMode;
  /** Routes under it need a token unless they opt out; health, metrics and docs live outside it. */
  prefix?: string;
  /** How often the revocation marker is looked at (see watchRevocationMarker). */
  markerCheckMs?: number;
}

export const AUTH_PLUGIN_DEFAULTS = Object.freeze({ prefix: '/v1', realm: 'order-platform', markerCheckMs: 250 });

/**
 * Redis can lose every revocation mark at once (FLUSHALL, a restart without persistence), and a
 * token revoked before would pass again. user-service keeps a marker beside the marks and writes
 * them back from MySQL when it is gone. Every instance looks at the marker four times a second: once
 * seen, its disappearance makes revocation checks answer as Redis-unavailable (the fail mode
 * decides; `closed` answers 503) until user-service has put the marks and the marker back.
 */
function watchRevocationMarker(app: FastifyInstance, revocation: Revocation, everyMs: number): void {
  let seen = false;
  let timer: NodeJS.Timeout | undefined;
  const look = async () => {
    const present = await revocation.marker.exists().catch(() => undefined);
    if (present === true) {
      revocation.setTrusted(true);
      seen = true;
    } else if (present === false && seen) {
      revocation.setTrusted(false);
      app.log.warn('the revocation marker is gone (Redis lost its data?): revocation checks fail as if Redis were down until user-service restores them');
      seen = false;
    }
  };
  app.addHook('onReady', async () => {
    timer = setInterval(() => void look(), everyMs);
    timer.unref();
    await look();
  });
  app.addHook('onClose', async () => clearInterval(timer));
}

type Failure = 'missing' | 'invalid' | 'expired' | 'revoked';

const DETAIL: Readonly<Record<Failure, string>> = Object.freeze({
  missing: 'A Bearer access token is required.',
  invalid: 'The access token is invalid.',
  expired: 'The access token has expired.',
  revoked: 'The access token has been revoked.',
});

/** RFC 6750: the challenge names the error only when a token was presented. */
function unauthorized(failure: Failure, headers: Record<string, string> = {}): HttpProblem {
  const challenge = `Bearer realm="${AUTH_PLUGIN_DEFAULTS.realm}"${failure === 'missing' ? '' : ', error="invalid_token"'}`;
  return new HttpProblem({ status: 401, code: 'UNAUTHORIZED', detail: DETAIL[failure], headers: { ...headers, 'www-authenticate': challenge } });
}

/** The token of `Authorization: Bearer <token>`; undefined when there is none. */
function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  return match?.[1];
}

/**
 * Verifies the Bearer token of every route under the prefix and sets `request.auth`.
 * One Redis round trip per request: when the rate-limit plugin (registered after this
 * one, so its hook runs second) limits the route, the revocation check and the user's
 * limit go out in one script call and the plugin answers from the result left on the request.
 */
async function authPlugin(app: FastifyInstance, opts: AuthPluginOptions): Promise<void> {
  const prefix = opts.prefix ?? AUTH_PLUGIN_DEFAULTS.prefix;
  const verify = createTokenVerifier(opts);
  const revocation = createRevocation({ client: app.redis, keys: keySpace(opts.keyPrefix), failMode: opts.failMode, registry: app.metrics, logger: app.log });
  app.decorate('revocation', revocation);
  watchRevocationMarker(app, revocation, opts.markerCheckMs ?? AUTH_PLUGIN_DEFAULTS.markerCheckMs);

  const underPrefix = (url: string) => url === prefix || url.startsWith(`${prefix}/`);
  // Unmatched URLs (404s) need no token: there is nothing to protect.
  // routeOptions is a getter that builds a new object on every read: read it once.
  const requiresAuth = ({ url, config }: FastifyRequest['routeOptions']) => url !== undefined && config.auth !== false && underPrefix(url);

  // The rate-limit plugin is registered after this one: look for it once everything is.
  let guard: RequestGuard | undefined;
  app.addHook('onReady', async () => {
    if (!app.hasDecorator('rateLimiter')) return;
    const throttle = logThrottle();
    const onLaneError = (err: Error) => {
      const { log, suppressed } = throttle();
      if (log) app.log.warn({ err, suppressed }, 'Redis lane connection error; the request checks use the main connection meanwhile');
    };
    guard = createRequestGuard({ client: app.redis, revocation, limiter: app.rateLimiter, onLaneError });
  });

  // The OpenAPI document says which routes want the token (the kit declares `bearerAuth`).
  app.addHook('onRoute', (route) => {
    if (route.config?.auth === false || !underPrefix(route.url)) return;
    route.schema = { ...route.schema, security: route.schema?.security ?? [{ bearerAuth: [] }] };
  });

  /** A refused token still counts against the caller's address, or guessing tokens would be free. */
  async function reject(request: FastifyRequest, failure: Failure): Promise<never> {
    const policy = guard ? app.rateLimitPolicyOf(request) : undefined;
    const limits = policy === undefined ? undefined : app.rateLimiter.policies[policy];
    if (policy === undefined || !limits) throw unauthorized(failure);
    const result = await app.rateLimiter.check(policy, `ip:${request.ip}`);
    if (!result.allowed) throw rateLimitedProblem(policy, limits, result);
    throw unauthorized(failure, rateLimitHeaders(policy, limits, result));
  }

  type Done = (err?: Error) => void;

  /** The revocation check (with the user's limit and the route's reads when the route is limited), then request.auth. */
  function admit(request: FastifyRequest, route: FastifyRequest['routeOptions'], verified: VerifiedToken, done: Done): void {
    const { userId, sessionId, tokenId, expiresAt, issuedAtMs } = verified;
    const query = { userId, sessionId, jti: tokenId, issuedAtMs };
    const settle = (revoked: boolean) => {
      // A revoked token was counted against its user in the same round trip: no second one by address.
      if (revoked) return done(unauthorized('revoked'));
      request.auth = { userId, sessionId, tokenId, expiresAt } satisfies AuthContext;
      done();
    };
    const policy = guard ? app.rateLimitPolicyOf(request, route) : undefined;
    if (!guard || policy === undefined) {
      revocation.isRevoked(query).then(settle, done);
      return;
    }
    guard.checkThen(query, policy, route.config.prefetch?.(request), (err, answer) => {
      if (err || !answer) return done(err ?? undefined);
      request.rateLimitResult = { policy, result: answer.limit };
      settle(answer.revoked);
    });
  }

  /** A token not verified before: its signature and claims, or the request's refusal. */
  async function verifyHeader(request: FastifyRequest, header: string | undefined): Promise<VerifiedToken> {
    const token = bearerToken(header);
    if (token === undefined) return reject(request, 'missing');
    try {
      return await verify(token);
    } catch (err) {
      if (!(err instanceof InvalidTokenError)) throw err;
      request.log.info({ reason: err.reason }, 'access token refused');
      return reject(request, err.reason === 'expired' ? 'expired' : 'invalid');
    }
  }

  // A callback hook: a token verified before and its one script call wait on no promise.
  app.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: Done) => {
    const route = request.routeOptions;
    if (!requiresAuth(route)) return done();
    const header = request.headers.authorization;
    // A remembered token is one that verified, so `Bearer <it>` passed bearerToken then: no promise, no pattern.
    const verified = header?.startsWith('Bearer ') ? verify.cached(header.slice(7)) : undefined;
    if (verified !== undefined) return admit(request, route, verified, done);
    verifyHeader(request, header).then((checked) => admit(request, route, checked, done), done);
  });
}

export const authentication = fp(authPlugin, { name: 'authentication', fastify: '5.x', dependencies: ['redis'] });

/**
 * The caller of a route that requires a token. The authentication hook has refused the
 * request before the handler otherwise, so a missing `auth` here is a wiring bug (500).
 */
export function signedIn(request: { auth?: AuthContext }): AuthContext {
  if (!request.auth) throw new Error('authenticated route reached without request.auth');
  return request.auth;
}
