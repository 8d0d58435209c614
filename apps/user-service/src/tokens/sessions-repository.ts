import { binaryToUuid, uuidToBinary } from '@platform/db';
import type { DataSource } from 'typeorm';

/**
 * Sign-in sessions and their refresh tokens (RFC 9700 §4.14.2): each use of a refresh token
 * spends it and adds its successor to the same session; presenting a spent one again means
 * two parties hold the family, so the whole session is revoked.
 */
export type RotateOutcome<T> =
  | { kind: 'rotated'; userId: string; sessionId: string; issued: T }
  | { kind: 'reused'; userId: string; sessionId: string }
  | { kind: 'invalid' };

interface TokenRow {
  session_id: Buffer;
  user_id: Buffer;
  expires_at: Date;
  spent_at: Date | null;
  revoked_at: Date | null;
}

/** `ds` is read per query: the pool may connect after start (libs/db mysql plugin). */
export function sessionsRepository(ds: () => DataSource) {
  return Object.freeze({
    /** A new session with its first refresh token, in one transaction. */
    async create(s: { sessionId: string; userId: string; tokenHash: Buffer; expiresAt: Date }): Promise<void> {
      const now = new Date();
      await ds().transaction(async (tx) => {
        await tx.query('INSERT INTO sessions (id, user_id, created_at) VALUES (?, ?, ?)', [uuidToBinary(s.sessionId), uuidToBinary(s.userId), now]);
        await tx.query('INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (?, ?, ?, ?)', [
          s.tokenHash,
          uuidToBinary(s.sessionId),
          now,
          s.expiresAt,
        ]);
      });
    },

    /**
     * Spends the presented token and stores its successor, or, for a spent one, revokes the
     * session. The row lock makes two concurrent uses of one token a use and a reuse. `issue`
     * (the access token) runs before the commit: if it fails, the presented token stays
     * unspent and the client can retry with it, instead of holding a spent token whose
     * successor it never received.
     */
    async rotate<T>(
      presented: Buffer,
      successor: Buffer,
      expiresAt: Date,
      issue: (ids: { userId: string; sessionId: string }) => Promise<T>,
    ): Promise<RotateOutcome<T>> {
      return ds().transaction(async (tx): Promise<RotateOutcome<T>> => {
        const rows = (await tx.query(
          `SELECT t.session_id, s.user_id, t.expires_at, t.spent_at, s.revoked_at
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
            WHERE t.token_hash = ? FOR UPDATE`,
          [presented],
        )) as TokenRow[];
        const row = rows[0];
        const now = new Date();
        if (!row || row.revoked_at !== null || row.expires_at <= now) return { kind: 'invalid' };
        const ids = { userId: binaryToUuid(row.user_id), sessionId: binaryToUuid(row.session_id) };
        if (row.spent_at !== null) {
          await tx.query("UPDATE sessions SET revoked_at = ?, revoked_reason = 'refresh-reuse' WHERE id = ?", [now, row.session_id]);
          return { kind: 'reused', ...ids };
        }
        await tx.query('UPDATE refresh_tokens SET spent_at = ? WHERE token_hash = ?', [now, presented]);
        await tx.query('INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (?, ?, ?, ?)', [
          successor,
          row.session_id,
          now,
          expiresAt,
        ]);
        return { kind: 'rotated', ...ids, issued: await issue(ids) };
      });
    },

    async revoke(userId: string, sessionId: string, reason: string): Promise<void> {
      await ds().query('UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL', [
        new Date(),
        reason,
        uuidToBinary(sessionId),
        uuidToBinary(userId),
      ]);
    },

    /** Sessions revoked at or after `since`, whatever the reason. */
    async revokedSince(since: Date): Promise<{ userId: string; sessionId: string; revokedAt: Date }[]> {
      const rows = (await ds().query('SELECT id, user_id, revoked_at FROM sessions WHERE revoked_at >= ?', [since])) as { id: Buffer; user_id: Buffer; revoked_at: Date }[];
      return rows.map((r) => ({ userId: binaryToUuid(r.user_id), sessionId: binaryToUuid(r.id), revokedAt: r.revoked_at }));
    },

    async revokeAll(userId: string, reason: string): Promise<void> {
      await ds().query('UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL', [
        new Date(),
        reason,
        uuidToBinary(userId),
      ]);
    },
  });
}

export type SessionsRepository = ReturnType<typeof sessionsRepository>;
