import { newId } from '@platform/db';
import type { FastifyRequest } from 'fastify';
import type { PaymentGateway } from '../gateway/gateway';
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

/** Pays the caller's PENDING order with the card token; the order is read from order-service as `request`'s caller. */
async function pay(deps: ChargeDeps, request: FastifyRequest, caller: Caller, body: CreatePaymentBody): Promise<Answered<PaymentView>> {
  const token = body.paymentMethod.token;
  const hash = requestHash({ orderId: body.orderId.toLowerCase(), method: body.paymentMethod });
  // The key's payment and the order's live one in one look; the unique indexes decide at the INSERT.
  const { byKey, live } = await deps.repository.findForCharge(caller.userId, caller.key, body.orderId);
  if (byKey) return again(deps, byKey, hash, token, caller);

  const order = await deps.orders.get(request, body.orderId);
  if (order.userId !== caller.userId) throw new OrderNotFound();
  if (order.status !== 'PENDING') throw new OrderNotPayable(`The order is ${order.status}; only a PENDING order can be paid.`);
  return attempt(deps, { order, caller, hash, token }, live);
}

/**
 * No other live payment for the order, then a new one, charged. Another attempt's PROCESSING
 * payment is left to it (409, retry) unless it is stale: then it is settled first. `live` was
 * read before the order was: one that appeared since is refused by uq_payments_live_order.
 */
async function attempt(deps: ChargeDeps, a: Attempt, found: Payment | undefined): Promise<Answered<PaymentView>> {
  const check = () => stillHeld(a.caller);
  let live = found;
  if (live?.status === 'PROCESSING') live = await deps.settlement.resolveStale(live, a.caller.requestId);
  if (live?.status === 'PROCESSING') throw inProgress();
  if (live && live.status !== 'FAILED') throw new OrderNotPayable('The order is already paid.');

  const p = newPayment(a);
  check();
  const earlier = await insert(deps, p, a);
  if (earlier) return earlier;
  return { value: await send(deps, p, a.token, a.caller.requestId, check), replayed: false };
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
    if (index === 'uq_payments_live_order') {
      // Another attempt got in first: still at the provider (retry soon), or settled.
      const live = await repo.findLive(p.orderId);
      if (!live || live.status === 'PROCESSING') throw inProgress();
      throw new OrderNotPayable('The order is already paid.');
    }
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
  if (!(await repo.takeOver(p.id, p.fence, true))) {
    const latest = await repo.findById(p.id);
    if (latest && latest.status !== 'PROCESSING') return { value: answerOf(latest), replayed: true };
    if (!latest) throw new GatewayUnavailable('The earlier attempt with this key did not complete; retry with the same Idempotency-Key.');
    throw new KeyInProgress();
  }
  const fence = p.fence + 1;
  const value = await send(deps, { ...p, fence, version: p.version + 1 }, token, caller.requestId, () => stillHeld(caller));
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
  return deps.settlement.apply(p, p.fence, outcome);
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
