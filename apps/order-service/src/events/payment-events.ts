import { enqueue, STREAMS, type PaymentEvent, type PaymentRefunded, type PaymentSucceeded, type RefundRequested } from '@platform/events';
import { newId } from '@platform/db';
import type { StreamEvent } from '@platform/events';
import type { FastifyBaseLogger } from 'fastify';
import type { DataSource } from 'typeorm';
import type { OrdersRepository } from '../orders/orders-repository';

export interface PaymentEventDeps {
  ds: () => DataSource;
  orders: OrdersRepository;
  /** After every event of an order: its cache entry dropped, its live streams told. */
  changed: (orderId: string, ownerId?: string) => Promise<void>;
  /** Asks the outbox relay to run now, after a refund request was committed. */
  nudgeOutbox: () => void;
  log: FastifyBaseLogger;
}

export type Outcome = 'paid' | 'refunded' | 'refund-requested' | 'unchanged' | 'unknown-order';

/**
 * Moves orders by payment-service's events. Delivery is at least once and in no promised
 * order, so every step is a conditional UPDATE from the states it may leave: a duplicate
 * finds the order already moved and changes nothing, and nothing moves an order backwards.
 *
 * - payment.succeeded: PENDING -> PAID, one autocommit UPDATE. For an order already CANCELLED
 *   (a final state), a refund request goes to the outbox (once per payment: its dedupe key), and
 *   the order stays CANCELLED.
 * - payment.refunded with status REFUNDED: PAID -> REFUNDED. If it overtook its payment's
 *   success (the order still PENDING), both steps are taken at once; a later success
 *   then finds REFUNDED and does nothing. A CANCELLED order stays CANCELLED.
 * - payment.failed and partial refunds change nothing. Entries that are not payment events
 *   never reach this handler: the consumer acks and logs them (its `schema`).
 *
 * The cache entry is dropped, and the live streams told, after every event, changed or not: a
 * redelivery after a failed drop then drops it too.
 */
export function paymentEventHandler(deps: PaymentEventDeps) {
  const { ds, orders, log } = deps;

  async function succeeded(e: PaymentSucceeded): Promise<Outcome> {
    // The common case is one statement on its own (autocommit): nothing else is written with it.
    if (await orders.transition(e.orderId, ['PENDING'], 'PAID')) return 'paid';
    // Not PENDING: a duplicate (PAID, REFUNDED), an unknown order, or a CANCELLED one, which stays
    // CANCELLED for good and gets its refund request in a transaction of its own.
    return ds().transaction(async (tx) => {
      const current = await orders.statusOf(e.orderId, tx);
      if (!current) return 'unknown-order';
      if (current.status !== 'CANCELLED') return 'unchanged';
      const request: RefundRequested = {
        type: 'order.refund_requested',
        eventId: newId(),
        occurredAt: new Date().toISOString(),
        orderId: e.orderId,
        paymentId: e.paymentId,
        userId: current.userId,
        reason: 'ORDER_CANCELLED',
      };
      const queued = await enqueue(tx, { stream: STREAMS.refundRequests, payload: request, dedupeKey: `refund-request:${e.paymentId}` });
      return queued ? 'refund-requested' : 'unchanged';
    });
  }

  async function refunded(e: PaymentRefunded): Promise<Outcome> {
    if (e.status !== 'REFUNDED') return 'unchanged';
    return (await orders.transition(e.orderId, ['PENDING', 'PAID'], 'REFUNDED')) ? 'refunded' : 'unchanged';
  }

  return async function handle({ data: e }: StreamEvent<PaymentEvent>): Promise<Outcome> {
    let outcome: Outcome = 'unchanged';
    if (e.type === 'payment.succeeded') outcome = await succeeded(e);
    else if (e.type === 'payment.refunded') outcome = await refunded(e);
    if (outcome === 'refund-requested') deps.nudgeOutbox();
    if (outcome === 'unknown-order') log.warn({ orderId: e.orderId, eventId: e.eventId }, 'payment event for an unknown order; skipped');
    // The owner is marked a writer: their reads follow the event (read-your-writes, ADR 0020).
    else await deps.changed(e.orderId, e.userId);
    log.info({ orderId: e.orderId, eventId: e.eventId, type: e.type, outcome }, 'payment event handled');
    return outcome;
  };
}
