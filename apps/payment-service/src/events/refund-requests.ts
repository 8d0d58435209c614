import type { RefundRequested } from '@platform/events';
import type { StreamEvent } from '@platform/events';
import type { FastifyBaseLogger } from 'fastify';
import { PaymentNotRefundable } from '../payments/errors';
import type { Payments } from '../payments/payments';
import type { PaymentsRepository } from '../payments/payments-repository';

/**
 * The idempotency key of the refund that compensates a payment for a cancelled order. It
 * holds a space, which a client's key (visible ASCII only) never does, so it cannot collide
 * with one; and it is one per payment, so however often the request is delivered, one
 * refund is made.
 */
export const cancellationRefundKey = (paymentId: string) => `order cancelled ${paymentId}`;

export type RefundRequestOutcome = 'refunded' | 'already-refunded' | 'unknown-payment';

/**
 * order-service asks for a refund when a payment succeeded for an order cancelled meanwhile
 * (the saga's compensation). The whole remaining amount is refunded under the payment's
 * user with a key of its own. A provider that cannot answer now throws, which leaves the
 * entry pending for redelivery (and the PENDING refund for the recovery sweep).
 */
export function refundRequestHandler(deps: { payments: Payments; repository: PaymentsRepository; log: FastifyBaseLogger }) {
  return async function handle(event: StreamEvent<RefundRequested>): Promise<RefundRequestOutcome> {
    const e = event.data;
    const payment = await deps.repository.findById(e.paymentId);
    if (!payment || payment.orderId !== e.orderId || payment.userId !== e.userId) {
      deps.log.warn({ eventId: e.eventId, paymentId: e.paymentId }, 'refund request for an unknown payment; skipped');
      return 'unknown-payment';
    }
    try {
      const refund = await deps.payments.refund(
        { userId: payment.userId, key: cancellationRefundKey(payment.id), requestId: e.eventId },
        payment.id,
        undefined,
        e.reason,
      );
      deps.log.info({ paymentId: payment.id, refundId: refund.value.id, amount: refund.value.amount }, 'payment refunded for a cancelled order');
      return 'refunded';
    } catch (err) {
      // Already refunded in full by its owner: nothing is left to give back.
      if (err instanceof PaymentNotRefundable) return 'already-refunded';
      throw err;
    }
  };
}
