import {
  createIdempotencyStore,
  requestFingerprint,
  type IdempotencyStore,
  type IdempotencyStoreOptions,
  type KeySpace,
  type RedisClient,
  type StoredResponse,
} from '@platform/redis';
import { HttpProblem, UNAVAILABLE, type RouteAnswers } from '@platform/service-kit';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { heartbeat, type Held } from './idempotency-heartbeat';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Opts the route in to `Idempotency-Key` handling (CONTRACT.md "Idempotency keys"). */
    idempotency?: { required: boolean };
  }
}

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const IDEMPOTENT_REPLAYED_HEADER = 'idempotent-replayed';

/**
 * Headers a replay sends again: what a client reads to use the answer. Not request ids,
 * rate-limit fields or cookies, which belong to the request that carries them.
 */
export const REPLAYED_HEADERS: readonly string[] = Object.freeze([
  'content-type',
  'content-language',
  'location',
  'content-location',
  'etag',
  'last-modified',
  'link',
]);

/** The settings a service may turn; the pipeline adds the client and the key space. */
export interface IdempotencyOptions extends Pick<IdempotencyStoreOptions, 'lockTtlSeconds' | 'retentionSeconds' | 'inProgressRetryAfterSeconds'> {
  storedHeaders?: readonly string[];
  /**
   * The longest a request keeps its key in flight by heartbeat (default 10 minutes), even
   * after its client went away: a handler that never answers must not hold it for ever.
   */
  maxHoldSeconds?: number;
}

export interface IdempotencyPluginOptions extends IdempotencyOptions {
  client: RedisClient;
  /** The service's own key space: a key is scoped to the user and the route, within the service. */
  keys: KeySpace;
}

export const IDEMPOTENCY_PLUGIN_DEFAULTS = Object.freeze({ maxHoldSeconds: 600 });

/** The records held by requests in flight, for `idempotencySignal`. */
const held = new WeakMap<FastifyRequest, Held>();
const NEVER = new AbortController().signal;

/**
 * Aborts once the request's Idempotency-Key record may be gone (Redis did not answer for a whole
 * lock TTL, or another request holds the key now): from then on a retry may run the same request,
 * so the handler must not charge, refund or write. Pass it to the use case and check it
 * (`signal.throwIfAborted()`, a 503) before each side effect. A request without a key never aborts.
 */
export function idempotencySignal(request: FastifyRequest): AbortSignal {
  return held.get(request)?.signal ?? NEVER;
}

/** Pause between attempts to free a key whose first abandon failed (Redis did not answer). */
const ABANDON_RETRY_MS = 200;

/**
 * A key is 1 to 255 visible ASCII characters (CONTRACT.md). The IETF draft sends it as a
 * structured-field string (`"8e03…"`); Stripe-style clients send it bare. Both are
 * accepted and mean the same key: the quotes and `\` escapes of the draft's form are
 * removed first. Spaces are refused in both forms, since they are not visible.
 */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const raw = Array.isArray(header) ? header.join(', ') : header;
  const quoted = /^"((?:[^"\\]|\\["\\])*)"$/.exec(raw);
  const key = quoted ? (quoted[1] ?? '').replace(/\\(["\\])/g, '$1') : raw;
  if (/^[\x21-\x7E]{1,255}$/.test(key)) return key;
  throw new HttpProblem({
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'The Idempotency-Key header is not valid.',
    errors: [{ path: `headers/${IDEMPOTENCY_KEY_HEADER}`, message: 'must be 1 to 255 visible ASCII characters' }],
  });
}

/**
 * Whether an answer is kept for replay. Not kept, so a retry runs again (contract): 5xx,
 * and validation failures, including those a handler finds itself (400
 * VALIDATION_FAILED); schema validation runs before the preHandler and never takes a key.
 * Also not kept: 429, since a throttled request was never run, and any answer with
 * Retry-After, which says itself that it is passing (e.g. a 409 for another attempt on
 * the same resource still in flight). Every other 4xx is kept, as Stripe does: a 402
 * declined or 404 is the answer to that request, and a retry with the same key must not
 * run it again and maybe get another answer.
 */
function keeps(status: number, body: string, retryAfter: boolean): boolean {
  if (status >= 500 || status === 429 || retryAfter) return false;
  return !(status === 400 && problemCode(body) === 'VALIDATION_FAILED');
}

function problemCode(body: string): unknown {
  try {
    return (JSON.parse(body) as { code?: unknown }).code;
  } catch {
    return undefined;
  }
}

/** The payload as onSend sees it, or undefined for a stream, which cannot be kept without reading it. */
function bodyOf(payload: unknown): string | undefined {
  if (payload === null || payload === undefined) return '';
  if (typeof payload === 'string') return payload;
  if (Buffer.isBuffer(payload)) return payload.toString('utf8');
  return undefined;
}

function headersOf(reply: FastifyReply, names: readonly string[]): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of names) {
    const value = reply.getHeader(name);
    if (value !== undefined) kept[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return kept;
}

function asArray<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function hooks(store: IdempotencyStore, storedHeaders: readonly string[], maxHoldMs: number) {
  const running = new Set<() => void>();
  let closing = false;

  /**
   * Frees the key of a request that answered without a kept answer (a 503, say), so that the
   * client's retry runs at once rather than meeting 409 until the record runs out. When Redis did
   * not answer, tried again every 200 ms while the record may still live: the retry after an
   * outage then runs as soon as Redis is back.
   */
  async function abandon(request: FastifyRequest, hold: Held): Promise<void> {
    try {
      await store.abandon(hold.scope, hold.key, hold.token);
    } catch {
      void abandonLater(hold).catch((err: unknown) =>
        request.log.warn({ err }, 'idempotency key not freed; it frees itself when its lock runs out'),
      );
    }
  }

  async function abandonLater(hold: Held): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, ABANDON_RETRY_MS).unref());
      try {
        await store.abandon(hold.scope, hold.key, hold.token);
        return;
      } catch (err) {
        if (closing || Date.now() + ABANDON_RETRY_MS >= hold.expiresAt()) throw err;
      }
    }
  }

  /**
   * A preHandler, so the key is taken after authentication (scope), after schema
   * validation (whose 400s are never kept) and after the route's own preHandlers.
   */
  async function preHandler(request: FastifyRequest, reply: FastifyReply) {
    const key = parseIdempotencyKey(request.headers[IDEMPOTENCY_KEY_HEADER]);
    if (key === undefined) {
      if (!request.routeOptions.config.idempotency?.required) return;
      throw new HttpProblem({ status: 400, code: 'IDEMPOTENCY_KEY_MISSING', detail: 'This request needs an Idempotency-Key header.' });
    }
    // Scoped to the caller and the route pattern. Unauthenticated callers share one scope,
    // so routes that opt in should require a token.
    const scope = `${request.auth?.userId ?? 'anonymous'}:${request.method}:${request.routeOptions.url ?? ''}`;
    const begunAt = Date.now();
    // Redis down: the store throws RedisUnavailableError, a 503. Routes that opt in move money or create
    // orders; MySQL constraints back them up (CONTRACT.md), but running them with no duplicate protection
    // at all is the worse trade. Optional-key requests sent without a key never call Redis here.
    const result = await store.begin(scope, key, requestFingerprint(request.method, request.url, request.body));
    switch (result.state) {
      case 'new': {
        // Kept beating while the handler runs, even if the client goes away: the client that
        // timed out is the one that retries, and it must get 409 and then the replay, never a
        // second run. onSend (the answer), onResponse and the app's onClose stop it.
        held.set(request, heartbeat(store, request, { scope, key, token: result.token }, begunAt, { running, maxHoldMs }));
        return;
      }
      case 'replay':
        return replay(reply, result.response);
      case 'in-progress':
        throw new HttpProblem({
          status: 409,
          code: 'IDEMPOTENCY_REQUEST_IN_PROGRESS',
          detail: 'A request with this Idempotency-Key is still being processed; retry later.',
          headers: { 'retry-after': String(result.retryAfterSeconds) },
        });
      case 'mismatch':
        throw new HttpProblem({
          status: 422,
          code: 'IDEMPOTENCY_KEY_REUSED',
          detail: 'This Idempotency-Key was used for a different request.',
        });
    }
  }

  function replay(reply: FastifyReply, response: StoredResponse): FastifyReply {
    // A string with its stored content-type is sent as it is, without serializing it again.
    return reply.code(response.status).headers(response.headers).header(IDEMPOTENT_REPLAYED_HEADER, 'true').send(response.body);
  }

  /**
   * Stored before the answer leaves, thrown errors included (the error handler's problem
   * passes here too): a client that retries right after its answer gets the replay, never
   * a 409 for a request that has finished. A store that fails does not fail the answer,
   * since the work is done; the key frees itself when its lock runs out.
   */
  async function onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
    const hold = held.get(request);
    if (!hold) return payload;
    held.delete(request);
    hold.stop();
    await settle(request, reply, hold, payload).catch((err: unknown) =>
      request.log.warn({ err }, 'idempotency record not settled; the key frees itself when its lock runs out'),
    );
    return payload;
  }

  function keepsAnswer(reply: FastifyReply, payload: unknown): boolean {
    const body = bodyOf(payload);
    return body !== undefined && keeps(reply.statusCode, body, reply.hasHeader('retry-after'));
  }

  async function settle(request: FastifyRequest, reply: FastifyReply, hold: Held, payload: unknown) {
    if (!keepsAnswer(reply, payload)) return abandon(request, hold);
    const body = bodyOf(payload) as string;
    const response = { status: reply.statusCode, headers: headersOf(reply, storedHeaders), body };
    if (!(await store.complete(hold.scope, hold.key, hold.token, response))) {
      request.log.warn('idempotency lock ran out before the answer; it was not stored, so a retry runs again');
    }
  }

  /** A request that ended without passing onSend (an error while sending) must not hold its key until the TTL. */
  async function onResponse(request: FastifyRequest) {
    const hold = held.get(request);
    if (!hold) return;
    held.delete(request);
    hold.stop();
    await abandon(request, hold);
  }

  /** Closing: Redis goes next, so no heartbeat outlives the app; open records run out by themselves. */
  async function onClose() {
    closing = true;
    for (const stop of [...running]) stop();
  }

  return { preHandler, onSend, onResponse, onClose };
}

/**
 * What the key adds to an opted-in route's OpenAPI entry. A replay is a kept answer sent again:
 * never a 5xx, 429, validation failure or any answer given before the key was taken.
 */
export function idempotencyAnswers(required: boolean): RouteAnswers {
  return {
    parameters: [required ? 'RequiredIdempotencyKey' : 'IdempotencyKey'],
    problems: {
      400: required ? ['VALIDATION_FAILED', 'IDEMPOTENCY_KEY_MISSING'] : ['VALIDATION_FAILED'],
      409: { codes: ['IDEMPOTENCY_REQUEST_IN_PROGRESS'], headers: ['Retry-After'] },
      422: ['IDEMPOTENCY_KEY_REUSED'],
      // Redis cannot be asked for the key, or the key's record may be gone (idempotencySignal).
      503: UNAVAILABLE,
    },
    headersOn: { headers: ['Idempotent-Replayed'], on: (status) => status < 500 && ![400, 413, 415, 429, 431].includes(status) },
  };
}

/**
 * `Idempotency-Key` for routes with `config: { idempotency: { required } }`: the pipeline's last
 * step, registered by it before the routes. The hooks go on the opted-in routes only (other
 * routes pay nothing); the preHandler runs after the pipeline's onRequest hook, so `request.auth`
 * is set and a request the pipeline turned away (401, 429) never takes a key.
 */
async function idempotencyPlugin(app: FastifyInstance, opts: IdempotencyPluginOptions): Promise<void> {
  const store = createIdempotencyStore({ ...opts, registry: app.metrics });
  const maxHoldMs = (opts.maxHoldSeconds ?? IDEMPOTENCY_PLUGIN_DEFAULTS.maxHoldSeconds) * 1000;
  const { preHandler, onSend, onResponse, onClose } = hooks(store, opts.storedHeaders ?? REPLAYED_HEADERS, maxHoldMs);
  app.addHook('onClose', onClose);
  app.openapi.describe((route) => (route.config?.idempotency ? idempotencyAnswers(route.config.idempotency.required) : undefined));

  app.addHook('onRoute', (route: RouteOptions) => {
    if (!route.config?.idempotency) return;
    route.preHandler = [...asArray(route.preHandler), preHandler] as RouteOptions['preHandler'];
    route.onSend = [...asArray(route.onSend), onSend] as RouteOptions['onSend'];
    route.onResponse = [...asArray(route.onResponse), onResponse] as RouteOptions['onResponse'];
  });
}

export const idempotency = fp(idempotencyPlugin, { name: 'idempotency', fastify: '5.x', dependencies: ['docs'] });
