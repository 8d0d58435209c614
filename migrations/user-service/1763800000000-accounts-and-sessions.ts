import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Accounts, sign-in sessions (refresh-token families) and their refresh tokens, and the
 * development signing key. Ids are UUIDv7 in BINARY(16); times are UTC DATETIME(3).
 * Written for MySQL 8.4 and MariaDB 10.11 alike.
 */
export class AccountsAndSessions1763800000000 implements MigrationInterface {
  name = 'AccountsAndSessions1763800000000';

  async up(q: QueryRunner): Promise<void> {
    // Emails are compared byte for byte (utf8mb4_bin) after the service trims and lower-cases
    // them, so no collation can make two different addresses collide.
    await q.query(`CREATE TABLE users (
      id BINARY(16) NOT NULL,
      email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
      password_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      name VARCHAR(100) NOT NULL,
      version INT UNSIGNED NOT NULL DEFAULT 1,
      created_at DATETIME(3) NOT NULL,
      updated_at DATETIME(3) NOT NULL,
      PRIMARY KEY (id),
      UNIQUE KEY uq_users_email (email)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // A session is one sign-in: the family of refresh tokens rotated from it, and the `sid`
    // of every access token issued in it. Revoking it revokes them all.
    await q.query(`CREATE TABLE sessions (
      id BINARY(16) NOT NULL,
      user_id BINARY(16) NOT NULL,
      created_at DATETIME(3) NOT NULL,
      revoked_at DATETIME(3) NULL,
      revoked_reason VARCHAR(32) NULL,
      PRIMARY KEY (id),
      KEY ix_sessions_user (user_id, revoked_at),
      CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // Only the SHA-256 of a refresh token is kept: the token itself has 256 random bits, so a
    // fast hash is enough, and a leaked table yields nothing a client could present.
    await q.query(`CREATE TABLE refresh_tokens (
      token_hash BINARY(32) NOT NULL,
      session_id BINARY(16) NOT NULL,
      created_at DATETIME(3) NOT NULL,
      expires_at DATETIME(3) NOT NULL,
      spent_at DATETIME(3) NULL,
      PRIMARY KEY (token_hash),
      KEY ix_refresh_tokens_session (session_id),
      CONSTRAINT fk_refresh_tokens_session FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // Only when JWT_SIGNING_KEYS is unset (development): the first instance stores the key it
    // made, and `purpose` being unique makes every other instance read that one.
    await q.query(`CREATE TABLE signing_keys (
      kid VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      purpose VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      private_jwk TEXT CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      created_at DATETIME(3) NOT NULL,
      PRIMARY KEY (kid),
      UNIQUE KEY uq_signing_keys_purpose (purpose)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE signing_keys');
    await q.query('DROP TABLE refresh_tokens');
    await q.query('DROP TABLE sessions');
    await q.query('DROP TABLE users');
  }
}
