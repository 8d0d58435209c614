import { isUuid, newId } from '@platform/db';
import { enqueue, newEvent, STREAMS, type PaymentFailed, type PaymentRefunded, type PaymentSucceeded } from '@platform/events';
import { LockNotAcquiredError, type LockManager } from '@platform/redis';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { ChargeOutcome, PaymentGateway, RefundOutcome } from '../gateway/gateway';
import type { CreatePaymentBody, PaymentView, RefundView } from '../schemas';
import {
  DECLINE_CODES,
  GatewayUnavailable,
  KeyInProgress,
  KeyReused,
  OrderNotFound,
  OrderNotPayable,
  PaymentDeclined,
  PaymentNotFound,
  PaymentNotRefundable,
  RefundExceedsPayment,
  UnknownCardToken,
} from './errors';
import type { OrderClient } from './order-client';
import { duplicateKeyOf, type Payment, type PaymentOutcome, type PaymentsRepository, type Refund } from './payments-repository';

export interface PaymentsOptions {
  ds: () => DataSource;
  repository: PaymentsRepository;
  gateway: PaymentGateway;
  orders: OrderClient;
  locks: LockManager;
  nudgeOutbox: () => void;
  log: FastifyBaseLogger;
  /** The per-order lock: how long it lives unextended, and how long a request waits for it. */
  lockTtlMs: number;
  lockWaitMs: number;
  /**
   * A PROCESSING payment untouched for this long has no request answering for it any more
   * (longer than a request's whole provider budget); the recovery sweep settles it.
   */
  staleAfterMs: number;
}

/** Who asks, under which key, for the answers a route gives. */
export interface Caller {
  userId: string;
  key: string;
  requestId: string;
}

export interface Answered<T> {
  value: T;
  /** The answer comes from MySQL's record of an earlier request with this key (its Redis record was gone). */
  replayed: boolean;
}

const sha256 = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest();

function view(p: Payment): PaymentView {
  if (p.status === 'PROCESSING') throw new Error('a PROCESSING payment has no public view');
  return {
    id: p.id,
    orderId: p.orderId,
    userId: p.userId,
    amount: p.amount,
    currency: p.currency,
    status: p.status,
    failureCode: p.failureCode,
    refundedAmount: p.refundedAmount,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}

function refundView(r: Refund): RefundView {
  return { id: r.id, paymentId: r.paymentId, amount: r.amount, createdAt: r.createdAt.toISOString() };
}

/** The answer a settled payment gives: the payment, or its decline (or the provider's failure). */
function answerOf(p: Payment): PaymentView {
  if (p.status !== 'FAILED') return view(p);
  const failureCode = p.failureCode ?? 'CARD_DECLINED';
  if (!DECLINE_CODES.has(failureCode)) throw new GatewayUnavailable('The payment provider could not complete the payment.', p.id);
  throw new PaymentDeclined(failureCode, p.id);
}

/**
 * Charging each order once, and refunds (CONTRACT.md, Payments).
 *
 * What makes "at most one successful payment per order" hold, from the outside in:
 * the Idempotency-Key record in Redis (a retry replays), the per-order lock in Redis (one
 * attempt at the provider at a time, so concurrent attempts get clean answers), and MySQL,
 * which alone is enough: a payment is inserted PROCESSING before the provider is asked,
 * and uq_payments_live_order admits one live payment per order and uq_payments_user_key
 * one payment per key, whatever Redis holds.
 */
export function createPayments(opts: PaymentsOptions) {
  const { ds, repository: repo, gateway, orders, locks, log } = opts;

  /** The outcome, its outbox event and the fence in one transaction; false when the row was no longer ours to settle. */
  async function settle(p: Payment, fence: number, outcome: PaymentOutcome): Promise<boolean> {
    const settled = await ds().transaction(async (tx) => {
      if (!(await repo.finish(p.id, fence, outcome, tx))) return false;
      const base = { paymentId: p.id, orderId: p.orderId, userId: p.userId };
      const event =
        outcome.status === 'SUCCEEDED'
          ? newEvent<PaymentSucceeded>({ type: 'payment.succeeded', ...base, amount: p.amount, currency: p.currency })
          : newEvent<PaymentFailed>({ type: 'payment.failed', ...base, failureCode: outcome.failureCode });
      await enqueue(tx, { stream: STREAMS.payments, payload: event, dedupeKey: `${event.type}:${p.id}` });
      return true;
    });
    if (settled) opts.nudgeOutbox();
    return settled;
  }

  /** The payment as MySQL has it now; it exists, since payments are never deleted once settled. */
  async function reload(id: string): Promise<Payment | undefined> {
    return repo.findById(id);
  }

  /**
   * Applies the provider's answer to a PROCESSING payment this request holds with `fence`,
   * and answers for it. When another holder settled it first, its result is the answer.
   */
  async function apply(p: Payment, fence: number, outcome: ChargeOutcome): Promise<PaymentView> {
    switch (outcome.kind) {
      case 'succeeded':
      case 'declined': {
        const result: PaymentOutcome =
          outcome.kind === 'succeeded'
            ? { status: 'SUCCEEDED', providerChargeId: outcome.chargeId }
            : { status: 'FAILED', failureCode: outcome.failureCode, providerChargeId: outcome.chargeId };
        await settle(p, fence, result);
        const now = await reload(p.id);
        if (!now || now.status === 'PROCESSING') throw new GatewayUnavailable('The payment’s outcome is not settled yet; retry with the same Idempotency-Key.');
        return answerOf(now);
      }
      case 'rejected': {
        // Nothing moved: the attempt is removed, so the key's retry, or another key, starts afresh.
        await repo.discard(p.id, fence);
        log.warn({ paymentId: p.id, code: outcome.code, detail: outcome.detail }, 'payment provider rejected the charge; nothing was charged');
        if (outcome.code === 'INVALID_TOKEN') {
          throw new UnknownCardToken();
        }
        throw new GatewayUnavailable('The payment provider could not process the payment; nothing was charged.');
      }
      case 'unknown':
        // Kept PROCESSING: a retry with the same key sends the same provider key again, and
        // the recovery sweep asks the provider, so the outcome is settled either way.
        log.error({ paymentId: p.id, detail: outcome.detail }, 'payment outcome unknown; kept PROCESSING for a retry or the recovery sweep');
        throw new GatewayUnavailable('The payment provider did not answer; retry with the same Idempotency-Key.', p.id);
    }
  }

  /** Sends the charge for a PROCESSING payment held with `fence` (again, for a retry: same provider key). */
  async function charge(p: Payment, fence: number, token: string, requestId: string): Promise<PaymentView> {
    const outcome = await gateway.charge({
      key: p.id,
      reference: p.id,
      orderId: p.orderId,
      amount: p.amount,
      currency: p.currency,
      token,
      requestId,
    });
    return apply(p, fence, outcome);
  }

  async function underOrderLock<T>(orderId: string, fn: (fence: number) => Promise<T>): Promise<T> {
    try {
      return await locks.withLock(`payment-order:${orderId}`, ({ fence }) => fn(fence), { ttlMs: opts.lockTtlMs, waitMs: opts.lockWaitMs });
    } catch (err) {
      if (err instanceof LockNotAcquiredError) {
        throw new OrderNotPayable('Another payment for this order is in progress.', Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000)));
      }
      throw err;
    }
  }

  /**
   * A PROCESSING payment found while holding its order's lock belongs to no running
   * request unless it is recent. It is settled from the provider's records when they have
   * the charge; absent there and stale, the attempt is taken over and failed, which frees
   * the order. Answers the payment as it stands afterwards.
   */
  async function resolveStale(p: Payment, fence: number, requestId?: string): Promise<Payment | undefined> {
    const found = await gateway.findCharge(p.orderId, p.id, requestId);
    if (found.kind === 'succeeded' || found.kind === 'declined') {
      await apply(p, fence, found).catch(() => undefined);
    } else if (found.kind === 'absent' && Date.now() - p.updatedAt.getTime() > opts.staleAfterMs) {
      if (await repo.takeOver(p.id, fence)) {
        await settle({ ...p, fence }, fence, { status: 'FAILED', failureCode: 'GATEWAY_ERROR', providerChargeId: null });
        log.warn({ paymentId: p.id }, 'stale PROCESSING payment unknown to the provider; marked FAILED');
      }
    }
    return reload(p.id);
  }

  /** A request whose key MySQL already knows: the first answer again, or the first attempt finished. */
  async function again(p: Payment, hash: Buffer, token: string, requestId: string): Promise<Answered<PaymentView>> {
    if (!p.requestHash.equals(hash)) throw new KeyReused();
    if (p.status !== 'PROCESSING') return { value: answerOf(p), replayed: true };
    const value = await underOrderLock(p.orderId, async (fence) => {
      const now = await reload(p.id);
      if (!now) throw new GatewayUnavailable('The earlier attempt with this key did not complete; retry with the same Idempotency-Key.');
      if (now.status !== 'PROCESSING') return answerOf(now);
      // Ours to finish: claim it, so a former holder still running cannot overwrite the result.
      if (!(await repo.takeOver(now.id, fence))) {
        const latest = await reload(p.id);
        if (latest && latest.status !== 'PROCESSING') return answerOf(latest);
      }
      return charge({ ...now, fence }, fence, token, requestId);
    });
    return { value, replayed: true };
  }

  async function create(request: FastifyRequest, caller: Caller, body: CreatePaymentBody): Promise<Answered<PaymentView>> {
    const { userId, key, requestId } = caller;
    const token = body.paymentMethod.token;
    const hash = sha256({ orderId: body.orderId.toLowerCase(), method: body.paymentMethod });
    const known = await repo.findByKey(userId, key);
    if (known) return again(known, hash, token, requestId);

    const order = await orders.get(request, body.orderId);
    if (order.userId !== userId) throw new OrderNotFound();
    if (order.status !== 'PENDING') throw new OrderNotPayable(`The order is ${order.status}; only a PENDING order can be paid.`);

    return underOrderLock(order.id, async (fence) => {
      let live = await repo.findLive(order.id);
      if (live?.status === 'PROCESSING') live = await resolveStale(live, fence, requestId);
      if (live && live.status === 'PROCESSING') throw new OrderNotPayable('Another payment for this order is in progress.', 1);
      if (live && live.status !== 'FAILED') throw new OrderNotPayable('The order is already paid.');

      const createdAt = new Date();
      const p: Payment = {
        id: newId(),
        orderId: order.id,
        userId,
        idempotencyKey: key,
        requestHash: hash,
        amount: order.totalAmount,
        currency: order.currency,
        status: 'PROCESSING',
        failureCode: null,
        refundedAmount: 0,
        refundPendingAmount: 0,
        providerChargeId: null,
        fence,
        createdAt,
        updatedAt: createdAt,
      };
      try {
        await repo.insertProcessing(p);
      } catch (err) {
        const index = duplicateKeyOf(err);
        if (index === 'uq_payments_live_order') throw new OrderNotPayable('The order is already paid.');
        if (index === 'uq_payments_user_key') {
          // The same key raced in from another instance while Redis had no record of it.
          const first = await repo.findByKey(userId, key);
          if (first) {
            if (!first.requestHash.equals(hash)) throw new KeyReused();
            if (first.status !== 'PROCESSING') return { value: answerOf(first), replayed: true };
          }
          throw new KeyInProgress();
        }
        throw err;
      }
      return { value: await charge(p, fence, token, requestId), replayed: false };
    });
  }

  // ---------------------------------------------------------------- refunds

  /** The provider's answer for a PENDING refund, recorded with the payment's new totals and its event. */
  async function finishRefund(r: Refund, outcome: RefundOutcome): Promise<RefundView> {
    if (outcome.kind === 'unknown') {
      await repo.touchRefund(r.id);
      log.error({ refundId: r.id, detail: outcome.detail }, 'refund outcome unknown; kept PENDING for a retry or the recovery sweep');
      throw new GatewayUnavailable('The payment provider did not answer; retry with the same Idempotency-Key.');
    }
    const succeeded = outcome.kind === 'succeeded';
    const changed = await ds().transaction(async (tx) => {
      if (!(await repo.finishRefund(r.id, succeeded ? 'SUCCEEDED' : 'FAILED', succeeded ? outcome.refundId : null, tx))) return false;
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
    });
    if (changed && succeeded) opts.nudgeOutbox();
    const now = await repo.findRefund(r.id);
    if (now?.status === 'SUCCEEDED') return refundView(now);
    if (!succeeded) log.warn({ refundId: r.id, code: outcome.code, detail: outcome.detail }, 'payment provider rejected the refund');
    throw new GatewayUnavailable('The payment provider could not refund the payment; nothing was refunded.');
  }

  async function sendRefund(r: Refund, p: Pick<Payment, 'providerChargeId'>, requestId?: string): Promise<RefundView> {
    if (!p.providerChargeId) throw new Error(`payment ${r.paymentId} has no provider charge`);
    const outcome = await gateway.refund({ key: r.id, reference: r.id, chargeId: p.providerChargeId, amount: r.amount, requestId });
    return finishRefund(r, outcome);
  }

  async function refundAgain(r: Refund, hash: Buffer, requestId: string): Promise<Answered<RefundView>> {
    if (!r.requestHash.equals(hash)) throw new KeyReused();
    if (r.status === 'SUCCEEDED') return { value: refundView(r), replayed: true };
    if (r.status === 'FAILED') throw new GatewayUnavailable('The payment provider could not refund the payment; nothing was refunded.');
    const p = await repo.findById(r.paymentId);
    return { value: await sendRefund(r, p ?? { providerChargeId: null }, requestId), replayed: true };
  }

  /**
   * Reserves the refund under the payment's row lock (so concurrent refunds see each other
   * and the CHECK backs the sum), then asks the provider with the refund's id as its key.
   */
  async function refund(caller: Caller, paymentId: string, amount: number | undefined, reason = 'REQUESTED'): Promise<Answered<RefundView>> {
    if (!isUuid(paymentId)) throw new PaymentNotFound();
    const hash = sha256({ paymentId: paymentId.toLowerCase(), amount: amount ?? null });
    const known = await repo.findRefundByKey(caller.userId, caller.key);
    if (known) return refundAgain(known, hash, caller.requestId);

    let reserved: { r: Refund; p: Payment };
    try {
      reserved = await ds().transaction(async (tx) => {
        const p = await repo.findById(paymentId, tx, true);
        if (!p || p.userId !== caller.userId || p.status === 'PROCESSING') throw new PaymentNotFound();
        const left = p.amount - p.refundedAmount - p.refundPendingAmount;
        if (p.status === 'FAILED' || p.status === 'REFUNDED' || left === 0) throw new PaymentNotRefundable(p.status === 'FAILED' ? 'failed' : 'nothing-left');
        if (amount !== undefined && amount > left) throw new RefundExceedsPayment(left);
        const createdAt = new Date();
        const r: Refund = {
          id: newId(),
          paymentId: p.id,
          userId: caller.userId,
          idempotencyKey: caller.key,
          requestHash: hash,
          amount: amount ?? left,
          status: 'PENDING',
          reason,
          providerRefundId: null,
          createdAt,
          updatedAt: createdAt,
        };
        await repo.insertRefund(r, tx);
        await repo.reserveRefund(p.id, r.amount, tx);
        return { r, p };
      });
    } catch (err) {
      if (duplicateKeyOf(err) === 'uq_refunds_user_key') {
        const first = await repo.findRefundByKey(caller.userId, caller.key);
        if (first) return refundAgain(first, hash, caller.requestId);
      }
      throw err;
    }
    return { value: await sendRefund(reserved.r, reserved.p, caller.requestId), replayed: false };
  }

  // ---------------------------------------------------------------- reads

  async function get(userId: string, id: string): Promise<PaymentView> {
    const p = isUuid(id) ? await repo.findById(id) : undefined;
    if (!p || p.userId !== userId || p.status === 'PROCESSING') throw new PaymentNotFound();
    return view(p);
  }

  async function list(userId: string, orderId: string): Promise<{ data: PaymentView[] }> {
    const rows = await repo.listForOrder(userId, orderId);
    return { data: rows.filter((p) => p.status !== 'PROCESSING').map(view) };
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Settles what no request answers for any more: PROCESSING payments (from the provider's
   * records, under their order's lock, skipped while another holds it) and PENDING refunds
   * (sent again with their own key). Run by every instance now and then; safe concurrently.
   */
  async function recover(limit = 50): Promise<{ payments: number; refunds: number }> {
    const before = new Date(Date.now() - opts.staleAfterMs);
    let payments = 0;
    for (const p of await repo.stale(before, limit)) {
      try {
        await locks.withLock(`payment-order:${p.orderId}`, async ({ fence }) => {
          const now = await reload(p.id);
          if (now?.status === 'PROCESSING' && (await resolveStale(now, fence))?.status !== 'PROCESSING') payments++;
        }, { ttlMs: opts.lockTtlMs, waitMs: 0 });
      } catch (err) {
        if (!(err instanceof LockNotAcquiredError)) log.warn({ err, paymentId: p.id }, 'recovery: payment not settled');
      }
    }
    let refunds = 0;
    for (const r of await repo.stalePendingRefunds(before, limit)) {
      try {
        const p = await repo.findById(r.paymentId);
        await sendRefund(r, p ?? { providerChargeId: null });
        refunds++;
      } catch (err) {
        log.warn({ err, refundId: r.id }, 'recovery: refund not settled');
      }
    }
    return { payments, refunds };
  }

  return Object.freeze({ create, refund, get, list, recover });
}

export type Payments = ReturnType<typeof createPayments>;
