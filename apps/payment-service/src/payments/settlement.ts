import { newEvent, STREAMS, type PaymentFailed, type PaymentSucceeded } from '@platform/events';
import type { FastifyBaseLogger } from 'fastify';
import type { ChargeOutcome, PaymentGateway } from '../gateway/gateway';
import type { PaymentView } from '../schemas';
import { DECLINE_CODES, GatewayUnavailable, PaymentDeclined, UnknownCardToken } from './errors';
import type { Payment, PaymentOutcome, PaymentsRepository } from './payments-repository';
import { paymentView } from './views';

export interface SettlementDeps {
  repository: PaymentsRepository;
  gateway: PaymentGateway;
  nudgeOutbox: () => void;
  log: FastifyBaseLogger;
  /** A PROCESSING payment untouched for this long has no request answering for it any more. */
  staleAfterMs: number;
}

/**
 * Settling a PROCESSING payment from what the provider says, for the charge and the recovery
 * sweep alike: the outcome, its outbox event and the fence are written in one transaction, and
 * only by the holder of the fence the row carries (its inserter, or the last to take it over).
 */
export function chargeSettlement(deps: SettlementDeps) {
  return Object.freeze({
    /**
     * Applies the provider's answer to a PROCESSING payment held with its fence, and answers for it.
     * When another holder settled it first, its result is the answer.
     */
    apply: (p: Payment, outcome: ChargeOutcome) => apply(deps, p, outcome),
    /**
     * A PROCESSING payment untouched for `staleAfterMs` belongs to no running request. It is taken
     * over from the fence it was read with (of the sweeps and requests that find it at once, one
     * goes on), then settled from the provider's records when they have the charge; absent
     * there, the charge is cancelled by its key and the payment failed, which frees the order.
     * Answers the payment as it stands afterwards; a recent one, or one another took over, unchanged.
     */
    resolveStale: (p: Payment, requestId?: string) => resolveStale(deps, p, requestId),
  });
}

export type ChargeSettlement = ReturnType<typeof chargeSettlement>;

/** The answer a settled payment gives: the payment, or its decline (or the provider's failure). */
export function answerOf(p: Payment): PaymentView {
  if (p.status !== 'FAILED') return paymentView(p);
  const failureCode = p.failureCode ?? 'CARD_DECLINED';
  if (!DECLINE_CODES.has(failureCode)) throw new GatewayUnavailable('The payment provider could not complete the payment.', p.id);
  throw new PaymentDeclined(failureCode, p.id);
}

async function apply(deps: SettlementDeps, p: Payment, outcome: ChargeOutcome): Promise<PaymentView> {
  const { repository: repo, log } = deps;
  switch (outcome.kind) {
    case 'succeeded':
    case 'declined': {
      const result: PaymentOutcome =
        outcome.kind === 'succeeded'
          ? { status: 'SUCCEEDED', providerChargeId: outcome.chargeId }
          : { status: 'FAILED', failureCode: outcome.failureCode, providerChargeId: outcome.chargeId };
      // Settled here: the answer is what was written. Settled by a newer holder: what it wrote.
      const now = (await settle(deps, p, result)) ?? (await repo.findById(p.id));
      if (!now || now.status === 'PROCESSING') throw new GatewayUnavailable('The payment’s outcome is not settled yet; retry with the same Idempotency-Key.', p.id);
      return answerOf(now);
    }
    case 'rejected': {
      // Nothing moved: the attempt is removed, so the key's retry, or another key, starts afresh.
      await repo.discard(p.id, p.fence);
      log.warn({ paymentId: p.id, code: outcome.code, detail: outcome.detail }, 'payment provider rejected the charge; nothing was charged');
      if (outcome.code === 'INVALID_TOKEN') throw new UnknownCardToken();
      throw new GatewayUnavailable('The payment provider could not process the payment; nothing was charged.');
    }
    case 'unknown':
      // Kept PROCESSING: a retry with the same key sends the same provider key again, and
      // the recovery sweep asks the provider, so the outcome is settled either way.
      log.error({ paymentId: p.id, detail: outcome.detail }, 'payment outcome unknown; kept PROCESSING for a retry or the recovery sweep');
      throw new GatewayUnavailable('The payment provider did not answer; retry with the same Idempotency-Key.', p.id);
  }
}

async function resolveStale(deps: SettlementDeps, p: Payment, requestId?: string): Promise<Payment | undefined> {
  const { repository: repo } = deps;
  if (p.status !== 'PROCESSING' || Date.now() - p.updatedAt.getTime() <= deps.staleAfterMs) return p;
  // Not touched: a claim that ends unsettled (the provider unreachable) leaves the row stale, for the next sweep.
  const held = await repo.takeOver(p, false);
  if (!held) return repo.findById(p.id);
  const found = await deps.gateway.findCharge(p.orderId, p.id, requestId);
  if (found.kind === 'succeeded' || found.kind === 'declined') {
    await apply(deps, held, found).catch(() => undefined);
  } else if (found.kind === 'absent') {
    // Absent is not final: a charge the provider received but has not run yet (slow, frozen) can
    // still land. Cancelling it by its key makes the outcome final either way.
    const closed = await deps.gateway.cancelCharge(p.id, requestId);
    if (closed.kind === 'succeeded' || closed.kind === 'declined') {
      await apply(deps, held, closed).catch(() => undefined);
    } else if (closed.kind === 'cancelled' && (await settle(deps, held, { status: 'FAILED', failureCode: 'GATEWAY_ERROR', providerChargeId: null }))) {
      deps.log.warn({ paymentId: p.id }, 'stale PROCESSING payment never charged; cancelled at the provider and marked FAILED');
    }
  }
  return repo.findById(p.id);
}

/**
 * The outcome, its outbox event and the fence in one transaction, one round trip, by the holder of
 * `p`'s fence. Answers the row as written (the conditional UPDATE changed exactly these columns of
 * the PROCESSING row `p`, so no read follows), or undefined when the row was no longer ours to
 * settle (then no event either).
 */
async function settle(deps: SettlementDeps, p: Payment, outcome: PaymentOutcome): Promise<Payment | undefined> {
  const at = new Date();
  const base = { paymentId: p.id, orderId: p.orderId, userId: p.userId };
  const event =
    outcome.status === 'SUCCEEDED'
      ? newEvent<PaymentSucceeded>({ type: 'payment.succeeded', ...base, amount: p.amount, currency: p.currency })
      : newEvent<PaymentFailed>({ type: 'payment.failed', ...base, failureCode: outcome.failureCode });
  const settled = await deps.repository.finish(p.id, p.fence, outcome, at, { stream: STREAMS.payments, payload: event, dedupeKey: `${event.type}:${p.id}` });
  if (!settled) return undefined;
  deps.nudgeOutbox();
  return {
    ...p,
    status: outcome.status,
    failureCode: outcome.status === 'FAILED' ? outcome.failureCode : null,
    providerChargeId: outcome.providerChargeId,
    version: p.version + 1,
    updatedAt: at,
  };
}
