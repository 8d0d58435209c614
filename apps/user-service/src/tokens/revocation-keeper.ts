import type { FastifyInstance } from 'fastify';
import type { SessionsRepository } from './sessions-repository';

export const REVOCATION_KEEPER_DEFAULTS = Object.freeze({
  checkEveryMs: 250,
  /** The marker outlives any pause of the keeper; each check extends it. */
  markerTtlSeconds: 7 * 86_400,
});

/**
 * Keeps Redis's revocation marks whole. MySQL records every revoked session (logout, logout-all,
 * password change, refresh reuse); Redis holds the marks that every service checks. When Redis
 * loses its data the marker goes with the marks; when it fails over, the promoted replica may lack
 * the last marks and its marker names the old primary (@platform/redis loss-marker.ts, ADR 0019).
 * Either way the marker does not `touch`: the keeper then writes a session mark again for
 * every session revoked within one access-token lifetime (older ones have no live token left)
 * and puts the marker back. Until it has, every service's checks fail as if Redis were down
 * (libs/auth watches the marker). Every instance runs it; concurrent re-writes are idempotent.
 */
export function keepRevocations(app: FastifyInstance, sessions: SessionsRepository, opts: { accessTtlSeconds: number; checkEveryMs?: number }): void {
  const { markerTtlSeconds } = REVOCATION_KEEPER_DEFAULTS;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function check(): Promise<void> {
    if (await app.revocation.marker.touch(markerTtlSeconds)) return;
    const since = new Date(Date.now() - opts.accessTtlSeconds * 1_000);
    const revoked = await sessions.revokedSince(since);
    for (const s of revoked) {
      await app.revocation.revokeSession(s.userId, s.sessionId, Math.ceil(s.revokedAt.getTime() / 1_000) + opts.accessTtlSeconds);
    }
    await app.revocation.marker.set(markerTtlSeconds);
    app.log.warn({ sessions: revoked.length }, 'revocation marker missing (a new or emptied Redis): session revocations re-written from MySQL');
  }

  const tick = () => {
    running ??= check()
      .catch((err: unknown) => app.log.warn({ err }, 'revocation keeper: check failed; retried shortly'))
      .finally(() => (running = undefined));
  };
  app.addHook('onReady', async () => {
    timer = setInterval(tick, opts.checkEveryMs ?? REVOCATION_KEEPER_DEFAULTS.checkEveryMs);
    timer.unref();
    tick();
  });
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await running;
  });
}
