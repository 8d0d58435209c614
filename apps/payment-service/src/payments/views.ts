import { isUuid, type Reads } from '@platform/db';
import type { PaymentView, RefundView } from '../schemas';
import { PaymentNotFound } from './errors';
import type { Payment, PaymentsRepository, Refund } from './payments-repository';

/** What a client sees of a settled payment. A PROCESSING one is nobody's to see yet. */
export function paymentView(p: Payment): PaymentView {
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

export function refundView(r: Refund): RefundView {
  return { id: r.id, paymentId: r.paymentId, amount: r.amount, createdAt: r.createdAt.toISOString() };
}

/** A payment as answered, with the row's version (its ETag; the body's schema leaves it out). */
export type VersionedPayment = PaymentView & { version: number };

/**
 * The user's own settled payments: one by id, or those of an order. A replica answers unless the
 * user (the payment's owner) wrote within the bound; a payment absent there is asked of the primary.
 * Nothing that decides a charge or a refund reads through here.
 */
export function paymentReads(repository: PaymentsRepository, reads: Reads) {
  return Object.freeze({
    async get(userId: string, id: string): Promise<VersionedPayment> {
      const p = isUuid(id) ? await reads.run((db) => repository.findById(id, db), { ownersOf: (found) => (found ? [found.userId] : undefined) }) : undefined;
      if (!p || p.userId !== userId || p.status === 'PROCESSING') throw new PaymentNotFound();
      return { ...paymentView(p), version: p.version };
    },

    async list(userId: string, orderId: string): Promise<{ data: PaymentView[] }> {
      const rows = await reads.run((db) => repository.listForOrder(userId, orderId, db), { users: [userId] });
      return { data: rows.filter((p) => p.status !== 'PROCESSING').map(paymentView) };
    },
  });
}
