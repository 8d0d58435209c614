import type { Revocation } from '@platform/redis';
import type { FastifyInstance } from 'fastify';

/**
 * Redis can lose every revocation mark at once (FLUSHALL, a restart without persistence), or the
 * last ones in a failover (replication is asynchronous), and a token revoked before would pass
 * again. user-service keeps a marker beside the marks, tagged with the primary it was written on,
 * and writes the marks back from MySQL when it is gone or names another primary (docs/adr/0019).
 * On a standalone or Sentinel Redis every check reads the marker too; a cluster cannot read it in
 * the same command, so every instance also looks at it every `everyMs` and after every
 * reconnection: once seen, its loss makes revocation checks answer as Redis-unavailable (the fail
 * mode decides; `closed` answers 503) until user-service has put the marks and the marker back.
 */
export function watchRevocationMarker(app: FastifyInstance, revocation: Revocation, everyMs: number): void {
  let timer: NodeJS.Timeout | undefined;
  let warned = false;
  const look = async () => {
    const present = await revocation.checkMarker().catch(() => undefined);
    if (present === true) warned = false;
    else if (present === false && !revocation.trusted && !warned) {
      warned = true;
      app.log.warn('the revocation marker is gone or names another primary (Redis lost data, or failed over): revocation checks fail as if Redis were down until user-service restores them');
    }
  };
  // A new connection may reach another server (a promoted replica): look at once rather than at the next tick.
  const onReady = () => void look();
  app.addHook('onReady', async () => {
    timer = setInterval(() => void look(), everyMs);
    timer.unref();
    app.redis.on('ready', onReady);
    await look();
  });
  app.addHook('onClose', async () => {
    clearInterval(timer);
    app.redis.off('ready', onReady);
  });
}
