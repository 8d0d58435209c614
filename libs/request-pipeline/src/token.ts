import { InvalidTokenError, type TokenVerifier, type VerifiedToken } from '@platform/auth';
import type { FastifyRequest } from 'fastify';
import type { TokenRefusal } from './problems';

/** The pipeline's first step: the request's Bearer token, verified, or why there is none to trust. */
export type TokenReading = { token: VerifiedToken } | { refusal: Exclude<TokenRefusal, 'revoked'> };

/** The token of `Authorization: Bearer <token>`; undefined when there is none. */
function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  return match?.[1];
}

export function tokenReader(verify: TokenVerifier) {
  return async function readToken(request: FastifyRequest): Promise<TokenReading> {
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) return { refusal: 'missing' };
    try {
      return { token: await verify(token) };
    } catch (err) {
      // Anything else (the key source cannot answer) is not the token's fault: 503, not 401.
      if (!(err instanceof InvalidTokenError)) throw err;
      request.log.info({ reason: err.reason }, 'access token refused');
      return { refusal: err.reason === 'expired' ? 'expired' : 'invalid' };
    }
  };
}
