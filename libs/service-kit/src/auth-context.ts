/**
 * Who is calling, set on the request by the token verification plugin (user-service
 * issue) once a Bearer token has been verified and found not revoked. Rate limits key
 * by `userId` when it is there and by client IP otherwise; idempotency keys are scoped
 * to it.
 */
export interface AuthContext {
  userId: string;
  /** The sign-in session (refresh-token family). */
  sessionId: string;
  /** The access token's id and its expiry, in seconds since the epoch. */
  tokenId: string;
  expiresAt: number;
  /** When the token was issued, in ms: what a later revocation check of it needs (libs/redis revocation.ts). */
  issuedAtMs: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth?: AuthContext;
  }
}
