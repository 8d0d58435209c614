import { isUuid, newId } from '@platform/db';
import { enqueue, newEvent, STREAMS, type PaymentRefunded } from '@platform/events';
import type { FastifyBaseLogger } from 'fastify';
import type { DataSource, EntityManager } from 'typeorm';
import type { PaymentGateway, RefundOutcome } from '../gateway/gateway';
import type { RefundView } from '../schemas';
import { requestHash, stillHeld, type Answered, type Caller } from './caller';
import { GatewayUnavailable, KeyReused, PaymentNotFound, PaymentNotRefundable, RefundExceedsPayment } from './errors';
import { duplicateKeyOf, type Payment, type PaymentsRepository, type Refund } from './payments-repository';
import { refundView } from './views';

export interface RefundDeps {
  ds: () => DataSource;
  repository: PaymentsRepository;
  gateway: PaymentGateway;
  nudgeOutbox: () => void;
  log: FastifyBaseLogger;
}

/** What a refund asks for: of which payment, how much (all that is left when absent), why, by whom. */
interface RefundAsk {
  caller: Caller;
  paymentId: string;
  amount: number | undefined;
  reason: string;
  hash: Buffer;
}

/**
 * Refunding a payment in part or in full (CONTRACT.md, Payments). The refund is reserved under
 * the payment's row lock (so concurrent refunds see each other and the CHECK backs the sum), then
 * the provider is asked with the refund's id as its key, and its answer recorded with the
 * payment's new totals and the event, in one transaction.
 */
export function refundPayments(deps: RefundDeps) {
  return Object.freeze({
    /** Refunds `amount` of the caller's payment, or all that is left of it. */
    refund: (caller: Caller, paymentId: string, amount: number | undefined, reason = 'REQUESTED') => refund(deps, caller, paymentId, amount, reason),
    /** Sends a PENDING refund that no request answers for any more again (the recovery sweep). */
    resend: async (r: Refund): Promise<RefundView> => {
      const p = await deps.repository.findById(r.paymentId);
      return send(deps, r, p ?? { providerChargeId: null });
    },
  });
}

export type RefundPayments = ReturnType<typeof refundPayments>;

const notRefunded = () => new GatewayUnavailable('The payment provider could not refund the payment; nothing was refunded.');

async function refund(deps: RefundDeps, caller: Caller, paymentId: string, amount: number | undefined, reason: string): Promise<Answered<RefundView>> {
  const { repository: repo } = deps;
  if (!isUuid(paymentId)) throw new PaymentNotFound();
  const hash = requestHash({ paymentId: paymentId.toLowerCase(), amount: amount ?? null });
  const known = await repo.findRefundByKey(caller.userId, caller.key);
  if (known) return again(deps, known, hash, caller);

  let reserved: { r: Refund; p: Payment };
  try {
    stillHeld(caller);
    reserved = await deps.ds().transaction((tx) => reserve(repo, { caller, paymentId, amount, reason, hash }, tx));
  } catch (err) {
    if (duplicateKeyOf(err) === 'uq_refunds_user_key') {
      const first = await repo.findRefundByKey(caller.userId, caller.key);
      if (first) return again(deps, first, hash, caller);
    }
    throw err;
  }
  return { value: await send(deps, reserved.r, reserved.p, caller), replayed: false };
}

/** The refund inserted PENDING and its amount reserved, under the payment's row lock. */
async function reserve(repo: PaymentsRepository, ask: RefundAsk, tx: EntityManager): Promise<{ r: Refund; p: Payment }> {
  const p = await repo.findById(ask.paymentId, tx, true);
  if (!p || p.userId !== ask.caller.userId || p.status === 'PROCESSING') throw new PaymentNotFound();
  const left = p.amount - p.refundedAmount - p.refundPendingAmount;
  if (p.status === 'FAILED' || p.status === 'REFUNDED' || left === 0) throw new PaymentNotRefundable(p.status === 'FAILED' ? 'failed' : 'nothing-left');
  if (ask.amount !== undefined && ask.amount > left) throw new RefundExceedsPayment(left);
  const createdAt = new Date();
  const r: Refund = {
    id: newId(),
    paymentId: p.id,
    userId: ask.caller.userId,
    idempotencyKey: ask.caller.key,
    requestHash: ask.hash,
    amount: ask.amount ?? left,
    status: 'PENDING',
    reason: ask.reason,
    providerRefundId: null,
    createdAt,
    updatedAt: createdAt,
  };
  await repo.insertRefund(r, tx);
  await repo.reserveRefund(p.id, r.amount, tx);
  return { r, p };
}

/** A request whose key MySQL already knows: the first answer again, or the first refund sent again. */
async function again(deps: RefundDeps, r: Refund, hash: Buffer, caller: Caller): Promise<Answered<RefundView>> {
  if (!r.requestHash.equals(hash)) throw new KeyReused();
  if (r.status === 'SUCCEEDED') return { value: refundView(r), replayed: true };
  if (r.status === 'FAILED') throw notRefunded();
  const p = await deps.repository.findById(r.paymentId);
  return { value: await send(deps, r, p ?? { providerChargeId: null }, caller), replayed: true };
}

/**
 * Asks the provider for a PENDING refund, with the refund's id as its key (again, for a retry).
 * A caller that may no longer act leaves it PENDING and reserved, for its retry or the sweep.
 */
async function send(deps: RefundDeps, r: Refund, p: Pick<Payment, 'providerChargeId'>, caller?: Pick<Caller, 'held' | 'requestId'>): Promise<RefundView> {
  if (!p.providerChargeId) throw new Error(`payment ${r.paymentId} has no provider charge`);
  if (caller) stillHeld(caller);
  const outcome = await deps.gateway.refund({ key: r.id, reference: r.id, chargeId: p.providerChargeId, amount: r.amount, requestId: caller?.requestId });
  if (caller) stillHeld(caller);
  return finish(deps, r, outcome);
}

/** The provider's answer for a PENDING refund; without a final one the refund stays PENDING and reserved. */
async function finish(deps: RefundDeps, r: Refund, outcome: RefundOutcome): Promise<RefundView> {
  const { repository: repo, log } = deps;
  if (outcome.kind === 'unknown') {
    await repo.touchRefund(r.id);
    log.error({ refundId: r.id, detail: outcome.detail }, 'refund outcome unknown; kept PENDING for a retry or the recovery sweep');
    throw new GatewayUnavailable('The payment provider did not answer; retry with the same Idempotency-Key.');
  }
  const succeeded = outcome.kind === 'succeeded';
  const changed = await deps.ds().transaction((tx) => record(repo, r, succeeded, succeeded ? outcome.refundId : null, tx));
  if (changed && succeeded) deps.nudgeOutbox();
  const now = await repo.findRefund(r.id);
  if (now?.status === 'SUCCEEDED') return refundView(now);
  if (!succeeded) log.warn({ refundId: r.id, code: outcome.code, detail: outcome.detail }, 'payment provider rejected the refund');
  throw notRefunded();
}

/** The refund's outcome, the payment's new totals and its event, in `tx`; false when another recorded the outcome first. */
async function record(repo: PaymentsRepository, r: Refund, succeeded: boolean, providerRefundId: string | null, tx: EntityManager): Promise<boolean> {
  if (!(await repo.finishRefund(r.id, succeeded ? 'SUCCEEDED' : 'FAILED', providerRefundId, tx))) return false;
  await repo.settleRefund(r.paymentId, r.amount, succeeded, tx);
  if (!succeeded) return true;
  const p = await repo.findById(r.paymentId, tx);
  if (!p || (p.status !== 'PARTIALLY_REFUNDED' && p.status !== 'REFUNDED')) throw new Error(`payment ${r.paymentId} is not refunded after its refund`);
  const event = newEvent<PaymentRefunded>({
    type: 'payment.refunded',
    paymentId: p.id,
    orderId: p.orderId,
    userId: p.userId,
    refundId: r.id,
    amount: r.amount,
    refundedAmount: p.refundedAmount,
    paymentAmount: p.amount,
    status: p.status,
  });
  await enqueue(tx, { stream: STREAMS.payments, payload: event, dedupeKey: `payment.refunded:${r.id}` });
  return true;
}
