import type { FastifyInstance } from 'fastify';
import type { Payments } from './payments';

/**
 * Runs the recovery sweep every `intervalMs` (0: never) from ready to close, one run at a
 * time per instance. Every instance runs it; the order locks and the conditional writes
 * make concurrent runs harmless.
 */
export function startRecovery(app: FastifyInstance, payments: Payments, intervalMs: number): void {
  if (intervalMs <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let closed = false;
  const tick = () => {
    running = payments
      .recover()
      .then((settled) => {
        if (settled.payments + settled.refunds > 0) app.log.info(settled, 'recovery sweep settled stale payments and refunds');
      })
      .catch((err: unknown) => app.log.warn({ err }, 'recovery sweep failed; it runs again at the next interval'))
      .finally(() => {
        running = undefined;
        if (!closed) timer = setTimeout(tick, intervalMs).unref();
      });
  };
  app.addHook('onReady', async () => {
    timer = setTimeout(tick, intervalMs).unref();
  });
  app.addHook('onClose', async () => {
    closed = true;
    clearTimeout(timer);
    await running;
  });
}
