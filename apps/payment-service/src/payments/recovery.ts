import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { PaymentsRepository } from './payments-repository';
import type { RefundPayments } from './refund';
import type { ChargeSettlement } from './settlement';

export interface RecoveryDeps {
  repository: PaymentsRepository;
  settlement: ChargeSettlement;
  refunds: RefundPayments;
  log: FastifyBaseLogger;
  /** Longer than a request's whole provider budget: what is older has no request answering for it. */
  staleAfterMs: number;
}

/**
 * Settles what no request answers for any more: PROCESSING payments (from the provider's
 * records, each taken over from its fence first, skipped when another took it over) and PENDING
 * refunds (sent again with their own key). Run by every instance now and then; safe concurrently.
 */
export function recoverySweep(deps: RecoveryDeps) {
  const { repository: repo, settlement, refunds, log } = deps;

  async function settlePayments(before: Date, limit: number): Promise<number> {
    let settled = 0;
    for (const p of await repo.stale(before, limit)) {
      try {
        // Taken over from the fence it was listed with: another sweep (or request) that got there first wins.
        if ((await settlement.resolveStale(p))?.status !== 'PROCESSING') settled++;
      } catch (err) {
        log.warn({ err, paymentId: p.id }, 'recovery: payment not settled');
      }
    }
    return settled;
  }

  async function settleRefunds(before: Date, limit: number): Promise<number> {
    let settled = 0;
    for (const r of await repo.stalePendingRefunds(before, limit)) {
      try {
        await refunds.resend(r);
        settled++;
      } catch (err) {
        log.warn({ err, refundId: r.id }, 'recovery: refund not settled');
      }
    }
    return settled;
  }

  return Object.freeze({
    async recover(limit = 50): Promise<{ payments: number; refunds: number }> {
      const before = new Date(Date.now() - deps.staleAfterMs);
      const payments = await settlePayments(before, limit);
      return { payments, refunds: await settleRefunds(before, limit) };
    },
  });
}

export type RecoverySweep = ReturnType<typeof recoverySweep>;

/**
 * Runs the recovery sweep every `intervalMs` (0: never) from ready to close, one run at a
 * time per instance. Every instance runs it; the fenced takeovers and the conditional writes
 * make concurrent runs harmless.
 */
export function startRecovery(app: FastifyInstance, sweep: Pick<RecoverySweep, 'recover'>, intervalMs: number): void {
  if (intervalMs <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let closed = false;
  const tick = () => {
    running = sweep
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
