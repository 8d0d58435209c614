import { newId } from '@platform/db';
import type { FastifyRequest } from 'fastify';
import type { PaymentGateway } from '../gateway/gateway';
import type { OrderView } from '@platform/contracts';
import type { CreatePaymentBody, PaymentView } from '../schemas';
import { requestHash, stillHeld, type Answered, type Caller } from './caller';
import { GatewayUnavailable, KeyInProgress, KeyReused, OrderNotFound, OrderNotPayable } from './errors';
import type { OrderClient } from './order-client';
import { duplicateKeyOf, FIRST_FENCE, type Payment, type PaymentsRepository } from './payments-repository';
import { answerOf, type ChargeSettlement } from './settlement';

export interface ChargeDeps {
  repository: PaymentsRepository;
  gateway: PaymentGateway;
  orders: OrderClient;
  settlement: ChargeSettlement;
}

/** What a charge is for: the order (amount and currency are its), by whom, under which key. */
interface Attempt {
  order: { id: string; totalAmount: number; currency: string };
  caller: Caller;
  hash: Buffer;
  token: string;
}

/** Seconds a client waits before it asks again while another payment for the order is at the provider. */
const IN_PROGRESS_RETRY_AFTER_S = 1;
const inProgress = () => new OrderNotPayable('Another payment for this order is in progress.', IN_PROGRESS_RETRY_AFTER_S);

/**
 * Charging an order once (CONTRACT.md, Payments; ADR 0021).
 *
 * What makes "at most one successful payment per order" hold, from the outside in: the
 * Idempotency-Key record in Redis (a retry replays; the same key while it runs is 409), and
 * MySQL, which alone is enough: a payment is inserted PROCESSING before the provider is asked,
 * uq_payments_live_order admits one live payment per order (a concurrent attempt under another
 * key is refused by it: 409 with Retry-After) and uq_payments_user_key one payment per key,
 * whatever Redis holds. The row's fence decides who may settle it: its inserter, or whoever took
 * it over last (a retry of its key, the recovery sweep), so a former attempt's late write
 * changes nothing. The provider's idempotency key (the payment's id) charges once per payment.
 */
export function chargeOrders(deps: ChargeDeps) {
  return Object.freeze({
    pay: (request: FastifyRequest, caller: Caller, body: CreatePaymentBody) => pay(deps, request, caller, body),
  });
}

export type ChargeOrders = ReturnType<typeof chargeOrders>;

/**
 * Pays the caller's PENDING order with the card token; the order is read from order-service as
 * `request`'s caller. The INSERT is the lookup: MySQL's unique indexes name a key already used or
 * an order already held, and only then is the payment there read (once, for both).
 */
async function pay(deps: ChargeDeps, request: FastifyRequest, caller: Caller, body: CreatePaymentBody): Promise<Answered<PaymentView>> {
  const token = body.paymentMethod.token;
  const hash = requestHash({ orderId: body.orderId.toLowerCase(), method: body.paymentMethod });
  const known = () => deps.repository.findByKey(caller.userId, caller.key);

  let order: OrderView;
  try {
    order = await deps.orders.get(request, body.orderId);
    if (order.userId !== caller.userId) throw new OrderNotFound();
  } catch (err) {
    // A key reused for an order that is not the caller's is still a reused key.
    const first = err instanceof OrderNotFound ? await known() : undefined;
    if (first) return again(deps, first, hash, token, caller);
    throw err;
  }
  if (order.status !== 'PENDING') {
    // Paid meanwhile, maybe by this very key (its Redis record lost): that payment is the answer.
    const first = await known();
    if (first) return again(deps, first, hash, token, caller);
    throw new OrderNotPayable(`The order is ${order.status}; only a PENDING order can be paid.`);
  }
  return attempt(deps, { order, caller, hash, token });
}

/**
 * A new payment, recorded PROCESSING before the provider is asked, then charged. When the order
 * already has a live payment, another attempt's PROCESSING one is left to it (409, retry) unless
 * it is stale: then it is settled first, and the INSERT tried once more.
 */
async function attempt(deps: ChargeDeps, a: Attempt, settledStale = false): Promise<Answered<PaymentView>> {
  const { repository: repo } = deps;
  const check = () => stillHeld(a.caller);
  const p = newPayment(a);
  check();
  try {
    await repo.insertProcessing(p);
  } catch (err) {
    const index = duplicateKeyOf(err);
    if (index !== 'uq_payments_live_order' && index !== 'uq_payments_user_key') throw err;
    // Both may hold (the key's own payment is the live one): MySQL names one, so both are read.
    const { byKey, live } = await repo.findForCharge(a.caller.userId, a.caller.key, a.order.id);
    if (byKey) return again(deps, byKey, a.hash, a.token, a.caller);
    if (index === 'uq_payments_user_key') throw new KeyInProgress(); // its payment went away just now (discarded)
    const now = live?.status === 'PROCESSING' && !settledStale ? await deps.settlement.resolveStale(live, a.caller.requestId) : live;
    if (now?.status === 'PROCESSING') throw inProgress();
    if (now && now.status !== 'FAILED') throw new OrderNotPayable('The order is already paid.');
    // Failed (or settled as failed just now): the order is free again.
    if (settledStale) throw inProgress();
    return attempt(deps, a, true);
  }
  return { value: await send(deps, p, a.token, a.caller.requestId, check), replayed: false };
}

/**
 * A request whose key MySQL already knows: the first answer again, or the first attempt
 * finished. The key's record in Redis answers a retry while the first attempt runs (409), so an
 * attempt still PROCESSING here has no request answering for it (it ended unsettled, its
 * instance died, or Redis lost the record): the retry takes it over from the fence it read and
 * sends the same provider key again. Of retries racing for it, one takes it over; the others
 * are told it is in progress.
 */
async function again(deps: ChargeDeps, p: Payment, hash: Buffer, token: string, caller: Caller): Promise<Answered<PaymentView>> {
  const { repository: repo } = deps;
  if (!p.requestHash.equals(hash)) throw new KeyReused();
  if (p.status !== 'PROCESSING') return { value: answerOf(p), replayed: true };
  stillHeld(caller);
  const held = await repo.takeOver(p, true);
  if (!held) {
    const latest = await repo.findById(p.id);
    if (latest && latest.status !== 'PROCESSING') return { value: answerOf(latest), replayed: true };
    if (!latest) throw new GatewayUnavailable('The earlier attempt with this key did not complete; retry with the same Idempotency-Key.');
    throw new KeyInProgress();
  }
  const value = await send(deps, held, token, caller.requestId, () => stillHeld(caller));
  return { value, replayed: true };
}

/**
 * Sends the charge for a PROCESSING payment held with its fence (again, for a retry: same
 * provider key). A request that may no longer act leaves the payment PROCESSING: its retry or
 * the recovery sweep settles it from the provider's records.
 */
async function send(deps: ChargeDeps, p: Payment, token: string, requestId: string, check: () => void): Promise<PaymentView> {
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
  return deps.settlement.apply(p, outcome);
}

function newPayment({ order, caller, hash }: Attempt): Payment {
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
    fence: FIRST_FENCE,
    // The column's default: insertProcessing leaves it to MySQL.
    version: 1,
    createdAt,
    updatedAt: createdAt,
  };
}
