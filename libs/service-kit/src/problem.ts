import { STATUS_CODES } from 'node:http';
import { Type, type Static } from '@sinclair/typebox';
import type { DomainError } from './domain-error';

/** RFC 9457 problem details, the body of every error answer. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ pattern: '^[A-Z][A-Z0-9_]*$' }),
    requestId: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { additionalProperties: true, description: 'RFC 9457 problem details' },
);
export type Problem = Static<typeof ProblemSchema>;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The `code` used when an error names only an HTTP status. */
const CODE_BY_STATUS: Readonly<Record<number, string>> = Object.freeze({
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  408: 'REQUEST_TIMEOUT',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE_CONTENT',
  429: 'RATE_LIMITED',
  500: 'INTERNAL_ERROR',
  502: 'BAD_GATEWAY',
  503: 'DEPENDENCY_UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
});

export function codeForStatus(status: number): string {
  return CODE_BY_STATUS[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST');
}

export interface ProblemInit {
  status: number;
  code: string;
  detail: string;
  errors?: { path: string; message: string }[];
  /** Extension members (RFC 9457 §3.2), e.g. `paymentId`. */
  extensions?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/**
 * Thrown by routes and domain code for any answer that is not a success. The
 * error handler turns it into problem+json; nothing else about it reaches a client.
 */
export class HttpProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly errors?: { path: string; message: string }[];
  readonly extensions?: Record<string, unknown>;
  readonly headers?: Record<string, string>;

  constructor(init: ProblemInit) {
    super(init.detail);
    this.name = 'HttpProblem';
    this.status = init.status;
    this.code = init.code;
    this.errors = init.errors;
    this.extensions = init.extensions;
    this.headers = init.headers;
  }

  static notFound(detail = 'The resource does not exist.'): HttpProblem {
    return new HttpProblem({ status: 404, code: 'NOT_FOUND', detail });
  }
}

/**
 * What a service's own errors become on the wire: the answer for an error the service knows,
 * undefined for any other (the kit's rules answer those). Applied by `problemHandler`.
 */
export type ProblemMapping = (error: unknown) => ProblemInit | undefined;

/** One answer per kind of the union `E`; a kind left out does not compile. */
export type ProblemTable<E extends DomainError> = {
  readonly [K in E['kind']]: (error: Extract<E, { kind: K }>) => ProblemInit;
};

/** A service's table as a mapping: `isKnown` recognises the members of its union, `table` answers each. */
export function problemMapping<E extends DomainError>(isKnown: (error: unknown) => error is E, table: ProblemTable<E>): ProblemMapping {
  return (error) => {
    if (!isKnown(error)) return undefined;
    const answer = table[error.kind as E['kind']] as unknown as (error: E) => ProblemInit;
    return answer(error);
  };
}

/** Signals that MySQL, Redis or a peer needed by this request cannot be reached. */
export class DependencyUnavailableError extends Error {
  constructor(readonly dependency: string, options?: { cause?: unknown }) {
    super(`${dependency} is unavailable`, options);
    this.name = 'DependencyUnavailableError';
  }
}

export function problemBody(init: ProblemInit, requestId: string): Problem {
  return {
    // Extension members first: they may add to the standard members, never replace them.
    ...init.extensions,
    type: `urn:problem-type:${init.code.toLowerCase().replace(/_/g, '-')}`,
    title: STATUS_CODES[init.status] ?? 'Error',
    status: init.status,
    detail: init.detail,
    code: init.code,
    requestId,
    ...(init.errors ? { errors: init.errors } : {}),
  };
}
