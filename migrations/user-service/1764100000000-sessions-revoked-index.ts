import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Sessions by revocation time: when Redis has lost its revocation marks, user-service writes
 * back the marks of the sessions revoked within one access-token lifetime, a range on this index
 * instead of a scan of every session.
 */
export class SessionsRevokedIndex1764100000000 implements MigrationInterface {
  name = 'SessionsRevokedIndex1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE INDEX ix_sessions_revoked ON sessions (revoked_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX ix_sessions_revoked ON sessions');
  }
}
