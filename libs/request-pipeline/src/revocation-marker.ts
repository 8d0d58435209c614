import type { Revocation } from '@platform/redis';
import type { FastifyInstance } from 'fastify';

/**
 * Redis can lose every revocation mark at once (FLUSHALL, a restart without persistence), and a
 * token revoked before would pass again. user-service keeps a marker beside the marks and writes
 * them back from MySQL when it is gone. On a standalone Redis every check reads the marker too;
 * a cluster cannot read it in the same command, so every instance also looks at it every
 * `everyMs`: once seen, its disappearance makes revocation checks answer as Redis-unavailable (the
 * fail mode decides; `closed` answers 503) until user-service has put the marks and the marker back.
 */
export function watchRevocationMarker(app: FastifyInstance, revocation: Revocation, everyMs: number): void {
  let seen = false;
  let timer: NodeJS.Timeout | undefined;
  const look = async () => {
    const present = await revocation.marker.exists().catch(() => undefined);
    if (present === true) {
      revocation.setTrusted(true);
      seen = true;
    } else if (present === false && seen) {
      revocation.setTrusted(false);
      app.log.warn('the revocation marker is gone (Redis lost its data?): revocation checks fail as if Redis were down until user-service restores them');
      seen = false;
    }
  };
  app.addHook('onReady', async () => {
    timer = setInterval(() => void look(), everyMs);
    timer.unref();
    await look();
  });
  app.addHook('onClose', async () => clearInterval(timer));
}
