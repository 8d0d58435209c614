import { createHash, randomBytes } from 'node:crypto';
import { newId } from '@platform/db';
import type { FastifyInstance } from 'fastify';
import { InvalidRefreshToken } from '../errors';
import type { TokenPair } from '../schemas';
import type { SessionsRepository } from './sessions-repository';

export interface TokenSettings {
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

/** 256 random bits, URL-safe: the refresh token the client holds. Only its SHA-256 is stored. */
function newRefreshToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * Issues access tokens (EdDSA JWTs through @fastify/jwt) and refresh tokens, and rotates
 * the latter. Access tokens carry `iat_ms`, the exact issue time that revocation cutoffs
 * are compared with, and it is always later than the user's cutoff: a sign-in answered
 * after a logout-all works even if this instance's clock is behind the one that logged out.
 */
export function tokenIssuer(app: FastifyInstance, sessions: SessionsRepository, s: TokenSettings) {
  async function accessToken(userId: string, sessionId: string): Promise<string> {
    const [ring, cutoff] = await Promise.all([app.signingKeys(), app.revocation.cutoff(userId)]);
    const issuedAtMs = Math.max(Date.now(), (cutoff ?? 0) + 1);
    const iat = Math.floor(issuedAtMs / 1000);
    const claims = { sub: userId, sid: sessionId, jti: newId(), iat, iat_ms: issuedAtMs, exp: iat + s.accessTtlSeconds, iss: s.issuer, aud: s.audience };
    return app.jwt.sign(claims, { key: ring.signing.privatePem, kid: ring.signing.kid });
  }

  function pair(access: string, refresh: string): TokenPair {
    return { accessToken: access, refreshToken: refresh, tokenType: 'Bearer', expiresIn: s.accessTtlSeconds };
  }

  /** A session mark must outlive every access token of the session: the newest expires one TTL from now. */
  const sessionMarkUntil = () => Math.ceil(Date.now() / 1000) + s.accessTtlSeconds;
  const refreshExpiry = () => new Date(Date.now() + s.refreshTtlSeconds * 1000);

  return Object.freeze({
    /** A new sign-in session: its first refresh token and an access token. */
    async signIn(userId: string): Promise<TokenPair> {
      const sessionId = newId();
      const refresh = newRefreshToken();
      await sessions.create({ sessionId, userId, tokenHash: refresh.hash, expiresAt: refreshExpiry() });
      return pair(await accessToken(userId, sessionId), refresh.token);
    },

    /** Spends `presented` for a new pair; a spent token revokes its whole session, access tokens included. */
    async refresh(presented: string): Promise<TokenPair> {
      const next = newRefreshToken();
      const outcome = await sessions.rotate(hashRefreshToken(presented), next.hash, refreshExpiry(), (ids) =>
        accessToken(ids.userId, ids.sessionId),
      );
      if (outcome.kind === 'invalid') throw new InvalidRefreshToken();
      if (outcome.kind === 'reused') {
        // The refresh tokens are dead already (MySQL); if Redis fails here the session's access
        // tokens live out their short lifetime, which is logged: a 503 would not help, as a
        // retry finds the session revoked and never gets here again.
        await app.revocation
          .revokeSession(outcome.userId, outcome.sessionId, sessionMarkUntil())
          .catch((err: unknown) => app.log.error({ err, sessionId: outcome.sessionId }, 'refresh reuse: could not revoke the session in Redis'));
        app.log.warn({ userId: outcome.userId, sessionId: outcome.sessionId }, 'spent refresh token presented again: session revoked');
        throw new InvalidRefreshToken();
      }
      return pair(outcome.issued, next.token);
    },

    /** Ends one session: its access tokens at once on every instance (Redis), then its refresh tokens. */
    async endSession(userId: string, sessionId: string): Promise<void> {
      await app.revocation.revokeSession(userId, sessionId, sessionMarkUntil());
      await sessions.revoke(userId, sessionId, 'logout');
    },

    /** Ends every session of the user up to now (logout-all, password change). */
    async endAllSessions(userId: string, reason: string): Promise<void> {
      await app.revocation.revokeAllBefore(userId);
      await sessions.revokeAll(userId, reason);
    },
  });
}

export type TokenIssuer = ReturnType<typeof tokenIssuer>;
