import { HttpProblem } from '@platform/service-kit';

/** Why a request that needs a token was refused one. */
export type TokenRefusal = 'missing' | 'invalid' | 'expired' | 'revoked';

const DETAIL: Readonly<Record<TokenRefusal, string>> = Object.freeze({
  missing: 'A Bearer access token is required.',
  invalid: 'The access token is invalid.',
  expired: 'The access token has expired.',
  revoked: 'The access token has been revoked.',
});

export const REALM = 'order-platform';

/** 401 with the RFC 6750 challenge, which names the error only when a token was presented. */
export function unauthorized(refusal: TokenRefusal, headers: Record<string, string> = {}): HttpProblem {
  const challenge = `Bearer realm="${REALM}"${refusal === 'missing' ? '' : ', error="invalid_token"'}`;
  return new HttpProblem({ status: 401, code: 'UNAUTHORIZED', detail: DETAIL[refusal], headers: { ...headers, 'www-authenticate': challenge } });
}

/** 429 with the request's RateLimit fields and Retry-After. */
export function rateLimited(retryAfterSeconds: number, headers: Record<string, string>): HttpProblem {
  return new HttpProblem({ status: 429, code: 'RATE_LIMITED', detail: `Too many requests; retry in ${retryAfterSeconds} s.`, headers });
}
