import { RedisUnavailableError } from '@platform/redis';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import {
  DependencyUnavailableError,
  HttpProblem,
  PROBLEM_CONTENT_TYPE,
  codeForStatus,
  problemBody,
  type ProblemInit,
  type ProblemMapping,
} from './problem';
import { routeMethods } from './route-methods';

/** Connection-level failures of MySQL, Redis or a peer: the caller may retry later. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'POOL_ACQUIRE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_LOCK_WAIT_TIMEOUT',
  // undici (calls to peers): no connection in time, no answer in time, the connection lost.
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/**
 * The same by MySQL/MariaDB error number, for those mysql2 has no code name for:
 * 1040 too many connections, 1053 server shutdown, 1205 lock wait timeout,
 * 1969 MariaDB statement timeout, 3024 MySQL query timeout.
 */
const UNAVAILABLE_ERRNOS = new Set([1040, 1053, 1205, 1969, 3024]);

/** Fastify's own request errors whose message is safe and useful to show. */
const FASTIFY_CODES: Readonly<Record<string, string>> = Object.freeze({
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_BAD_URL: 'BAD_REQUEST',
});

type ValidationError = FastifyError & {
  validation: { instancePath: string; message?: string; keyword: string; params: Record<string, unknown> }[];
  validationContext?: string;
};

/**
 * A schema may say in `x-error-message` what a value failing it should have been ("must be an
 * ISO 4217 currency code in current use"), instead of Ajv's words for the keyword that failed
 * ("must be equal to one of the allowed values"). Two keywords failing on one value say it once.
 */
function validationProblem(error: ValidationError): ProblemInit {
  const where = error.validationContext ?? 'body';
  const seen = new Set<string>();
  const errors = error.validation.flatMap((v) => {
    const leaf = v.params['missingProperty'] ?? v.params['additionalProperty'];
    const path = `${where}${v.instancePath}${leaf === undefined ? '' : `/${String(leaf)}`}`;
    // Ajv's `verbose` adds the failing schema; Fastify's type of the error does not know it.
    const own = (v as { parentSchema?: Record<string, unknown> }).parentSchema?.['x-error-message'];
    const message =
      v.keyword === 'additionalProperties' ? 'is not an allowed property' : typeof own === 'string' ? own : (v.message ?? 'is invalid');
    const key = `${path}\n${message}`;
    if (seen.has(key)) return [];
    seen.add(key);
    return [{ path, message }];
  });
  return { status: 400, code: 'VALIDATION_FAILED', detail: 'The request is not valid.', errors };
}

function isUnavailable(error: unknown, depth = 0): boolean {
  if (error instanceof DependencyUnavailableError || error instanceof RedisUnavailableError) return true;
  if (typeof error !== 'object' || error === null || depth > 4) return false;
  const e = error as { code?: unknown; errno?: unknown; cause?: unknown; driverError?: unknown };
  if (typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) return true;
  if (typeof e.errno === 'number' && UNAVAILABLE_ERRNOS.has(e.errno)) return true;
  // TypeORM wraps the driver's error in `driverError`; a wrapping error keeps the original in `cause`.
  return [e.driverError, e.cause].some((inner) => inner !== undefined && isUnavailable(inner, depth + 1));
}

/** Maps any thrown value to what the client may see; internals stay in the log. */
export function toProblem(error: unknown): ProblemInit {
  if (error instanceof HttpProblem) {
    const { status, code, errors, extensions, headers } = error;
    return { status, code, detail: error.message, errors, extensions, headers };
  }
  // `throw null` / `throw undefined` reach here too.
  const e = (error ?? {}) as Partial<ValidationError>;
  if (Array.isArray(e.validation)) return validationProblem(e as ValidationError);
  if (isUnavailable(error)) {
    return { status: 503, code: 'DEPENDENCY_UNAVAILABLE', detail: 'A dependency is unavailable; retry later.', headers: { 'retry-after': '1' } };
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code = (e.code && FASTIFY_CODES[e.code]) ?? (error instanceof SyntaxError ? 'MALFORMED_JSON' : codeForStatus(status));
    return { status, code, detail: e.message ?? 'The request could not be processed.' };
  }
  return { status: 500, code: 'INTERNAL_ERROR', detail: 'An unexpected error occurred.' };
}

export function sendProblem(reply: FastifyReply, init: ProblemInit): FastifyReply {
  if (init.headers) reply.headers(init.headers);
  return reply.code(init.status).type(PROBLEM_CONTENT_TYPE).send(problemBody(init, reply.request.id));
}

/**
 * The error handler: `mapping` answers the service's own errors, the kit's rules every other.
 * The kit sets it, without a mapping, for the whole app; a service's routes plugin sets it again
 * with the service's table, for its own routes (Fastify keeps an error handler per plugin context):
 * `app.setErrorHandler(problemHandler(paymentProblems))`.
 */
export function problemHandler(mapping?: ProblemMapping) {
  return function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const problem = mapping?.(error) ?? toProblem(error);
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: problem.code, status: problem.status }, 'request rejected');
    return sendProblem(reply, problem);
  };
}

/**
 * No route for the method and path: 404 for a path no route serves, 405 with `Allow` for a
 * known path and another method (CONTRACT.md, "Common rules"). An OPTIONS that a route for
 * every path passed on (@fastify/cors's, for a request that is no allowed preflight) is
 * answered as RFC 9110 describes: 204 with `Allow`.
 */
async function errorHandlerPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler(problemHandler());
  const methodsOf = routeMethods(app);

  app.setNotFoundHandler((request, reply) => {
    const path = (request.url.split('?')[0] ?? '').slice(0, 200);
    const allowed = methodsOf(request.url);
    if (allowed.length === 0) return sendProblem(reply, { status: 404, code: 'NOT_FOUND', detail: `No route for ${request.method} ${path}.` });
    reply.header('allow', allowed.join(', '));
    if (request.method === 'OPTIONS' && allowed.includes('OPTIONS')) return reply.code(204).send();
    return sendProblem(reply, {
      status: 405,
      code: 'METHOD_NOT_ALLOWED',
      detail: `${path} does not serve ${request.method}; it serves ${allowed.join(', ')}.`,
    });
  });
}

export const errorHandler = fp(errorHandlerPlugin, { name: 'error-handler', fastify: '5.x' });
