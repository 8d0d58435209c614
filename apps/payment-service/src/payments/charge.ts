import { newId } from '@platform/db';
import type { FastifyRequest } from 'fastify';
import type { PaymentGateway } from '../gateway/gateway';
import type { CreatePaymentBody, PaymentView } from '../schemas';
import { requestHash, stillHeld, type Answered, type Caller } from './caller';
import { GatewayUnavailable, KeyInProgress, KeyReused, OrderNotFound, OrderNotPayable } from './errors';
import type { OrderClient } from './order-client';
import type { OrderLocks } from './order-lock';
import { duplicateKeyOf, type Payment, type PaymentsRepository } from './payments-repository';
import { answerOf, type ChargeSettlement } from './settlement';

export interface ChargeDeps {
  repository: PaymentsRepository;
  gateway: PaymentGateway;
  orders: OrderClient;
  locks: OrderLocks;
  settlement: ChargeSettlement;
}

/** What a charge is for: the order (amount and currency are its), by whom, under which key. */
interface Attempt {
  order: { id: string; totalAmount: number; currency: string };
  caller: Caller;
  hash: Buffer;
  token: string;
}

/**
 * Charging an order once (CONTRACT.md, Payments).
 *
 * What makes "at most one successful payment per order" hold, from the outside in: the
 * Idempotency-Key record in Redis (a retry replays), the per-order lock in Redis (one attempt at
 * the provider at a time, so concurrent attempts get clean answers), and MySQL, which alone is
 * enough: a payment is inserted PROCESSING before the provider is asked, and
 * uq_payments_live_order admits one live payment per order and uq_payments_user_key one payment
 * per key, whatever Redis holds.
 */
export function chargeOrders(deps: ChargeDeps) {
  return Object.freeze({
    pay: (request: FastifyRequest, caller: Caller, body: CreatePaymentBody) => pay(deps, request, caller, body),
  });
}

export type ChargeOrders = ReturnType<typeof chargeOrders>;

/** Pays the caller's PENDING order with the card token; the order is read from order-service as `request`'s caller. */
async function pay(deps: ChargeDeps, request: FastifyRequest, caller: Caller, body: CreatePaymentBody): Promise<Answered<PaymentView>> {
  const token = body.paymentMethod.token;
  const hash = requestHash({ orderId: body.orderId.toLowerCase(), method: body.paymentMethod });
  const known = await deps.repository.findByKey(caller.userId, caller.key);
  if (known) return again(deps, known, hash, token, caller);

  const order = await deps.orders.get(request, body.orderId);
  if (order.userId !== caller.userId) throw new OrderNotFound();
  if (order.status !== 'PENDING') throw new OrderNotPayable(`The order is ${order.status}; only a PENDING order can be paid.`);
  return deps.locks.hold(order.id, (fence, stillLocked) => attempt(deps, { order, caller, hash, token }, fence, mayAct(caller, stillLocked)));
}

/**
 * Throws before a side effect once the request's key record (a 503) or the order's lock (409,
 * retry) may be gone: another attempt may be running then. The fence and MySQL's unique indexes
 * still stop a late write; this stops the late charge.
 */
const mayAct = (caller: Caller, stillLocked: () => void) => () => {
  stillHeld(caller);
  stillLocked();
};

/** Under the order's lock: no other live payment for the order, then a new one, charged. */
async function attempt(deps: ChargeDeps, a: Attempt, fence: number, check: () => void): Promise<Answered<PaymentView>> {
  let live = await deps.repository.findLive(a.order.id);
  check();
  if (live?.status === 'PROCESSING') live = await deps.settlement.resolveStale(live, fence, a.caller.requestId);
  if (live && live.status === 'PROCESSING') throw new OrderNotPayable('Another payment for this order is in progress.', 1);
  if (live && live.status !== 'FAILED') throw new OrderNotPayable('The order is already paid.');

  const p = newPayment(a, fence);
  check();
  const earlier = await insert(deps, p, a);
  if (earlier) return earlier;
  return { value: await send(deps, p, fence, a.token, a.caller.requestId, check), replayed: false };
}

/**
 * Records the attempt PROCESSING before the provider is asked. MySQL's unique indexes turn a
 * second live payment for the order, or a second payment under the key, into the answers below.
 */
async function insert({ repository: repo }: ChargeDeps, p: Payment, a: Attempt): Promise<Answered<PaymentView> | undefined> {
  try {
    await repo.insertProcessing(p);
    return undefined;
  } catch (err) {
    const index = duplicateKeyOf(err);
    if (index === 'uq_payments_live_order') throw new OrderNotPayable('The order is already paid.');
    if (index !== 'uq_payments_user_key') throw err;
    // The same key raced in from another instance while Redis had no record of it.
    const first = await repo.findByKey(a.caller.userId, a.caller.key);
    if (first) {
      if (!first.requestHash.equals(a.hash)) throw new KeyReused();
      if (first.status !== 'PROCESSING') return { value: answerOf(first), replayed: true };
    }
    throw new KeyInProgress();
  }
}

/** A request whose key MySQL already knows: the first answer again, or the first attempt finished. */
async function again(deps: ChargeDeps, p: Payment, hash: Buffer, token: string, caller: Caller): Promise<Answered<PaymentView>> {
  const { repository: repo } = deps;
  if (!p.requestHash.equals(hash)) throw new KeyReused();
  if (p.status !== 'PROCESSING') return { value: answerOf(p), replayed: true };
  const value = await deps.locks.hold(p.orderId, async (fence, stillLocked) => {
    const check = mayAct(caller, stillLocked);
    const now = await repo.findById(p.id);
    if (!now) throw new GatewayUnavailable('The earlier attempt with this key did not complete; retry with the same Idempotency-Key.');
    if (now.status !== 'PROCESSING') return answerOf(now);
    // Ours to finish: claim it, so a former holder still running cannot overwrite the result.
    check();
    if (!(await repo.takeOver(now.id, fence))) {
      const latest = await repo.findById(p.id);
      if (latest && latest.status !== 'PROCESSING') return answerOf(latest);
    }
    return send(deps, { ...now, fence }, fence, token, caller.requestId, check);
  });
  return { value, replayed: true };
}

/**
 * Sends the charge for a PROCESSING payment held with `fence` (again, for a retry: same provider
 * key). A request that may no longer act leaves the payment PROCESSING: its retry or the recovery
 * sweep settles it from the provider's records.
 */
async function send(deps: ChargeDeps, p: Payment, fence: number, token: string, requestId: string, check: () => void): Promise<PaymentView> {
  check();
  const outcome = await deps.gateway.charge({
    key: p.id,
    reference: p.id,
    orderId: p.orderId,
    amount: p.amount,
    currency: p.currency,
    token,
    requestId,
  });
  check();
  return deps.settlement.apply(p, fence, outcome);
}

function newPayment({ order, caller, hash }: Attempt, fence: number): Payment {
  const createdAt = new Date();
  return {
    id: newId(),
    orderId: order.id,
    userId: caller.userId,
    idempotencyKey: caller.key,
    requestHash: hash,
    amount: order.totalAmount,
    currency: order.currency,
    status: 'PROCESSING',
    failureCode: null,
    refundedAmount: 0,
    refundPendingAmount: 0,
    providerChargeId: null,
    fence,
    // The column's default: insertProcessing leaves it to MySQL.
    version: 1,
    createdAt,
    updatedAt: createdAt,
  };
}
