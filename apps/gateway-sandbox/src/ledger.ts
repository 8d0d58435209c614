import { randomBytes } from 'node:crypto';
import { ChargeNotFound, ChargeNotRefundable, RefundExceedsCharge } from './errors';
import type { ChargeView, CreateChargeBody, CreateRefundBody, RefundView } from './schemas';

export type FailureCode = 'CARD_DECLINED' | 'INSUFFICIENT_FUNDS';

/** `ch_…`, `re_…`: 24 hex characters, as opaque as a provider's own ids. */
const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

/**
 * As many charges as kept answers (KEY_DEFAULTS.maxEntries). Both together come to about 100 MB
 * of heap when full (about 0.7 KB a charge, 1 KB a kept answer), so the sandbox stays within its
 * Kubernetes limit of 256 MiB (deploy/k8s/base/gateway-sandbox.yaml).
 */
export const LEDGER_DEFAULTS = Object.freeze({ maxCharges: 50_000 });

/**
 * The provider's books, in memory only: a restart forgets every charge. Callers get
 * copies, never the records themselves, so an answer kept for an idempotency key keeps
 * showing the charge as it was when that answer was given. Only the newest `maxCharges`
 * are kept; the oldest is forgotten with its refunds, as a restart would forget it, or a
 * sandbox left up under load would grow until it ran out of memory (`npm run soak`: its
 * heap grew 13 MB every 10 minutes at 15 charges and 7.5 refunds a second).
 */
export class Ledger {
  private readonly charges = new Map<string, ChargeView>();
  private readonly byOrder = new Map<string, ChargeView[]>();

  constructor(private readonly opts: { maxCharges: number } = LEDGER_DEFAULTS) {}

  get size(): number {
    return this.charges.size;
  }

  /** Records a charge that succeeded, or one that failed with `failureCode`. */
  charge(input: CreateChargeBody, failureCode: FailureCode | null): ChargeView {
    const charge: ChargeView = {
      id: newId('ch'),
      orderId: input.orderId,
      reference: input.reference ?? null,
      amount: input.amount,
      currency: input.currency,
      status: failureCode === null ? 'succeeded' : 'failed',
      failureCode,
      refundedAmount: 0,
      refunds: [],
      createdAt: new Date().toISOString(),
    };
    this.charges.set(charge.id, charge);
    const ofOrder = this.byOrder.get(charge.orderId) ?? [];
    ofOrder.push(charge);
    this.byOrder.set(charge.orderId, ofOrder);
    if (this.charges.size > this.opts.maxCharges) this.forgetOldest();
    return copy(charge);
  }

  /** Map order is insertion order: the first charge is the oldest, and the first of its order's. */
  private forgetOldest(): void {
    const oldest = this.charges.values().next().value;
    if (oldest === undefined) return;
    this.charges.delete(oldest.id);
    const ofOrder = (this.byOrder.get(oldest.orderId) ?? []).filter((c) => c !== oldest);
    if (ofOrder.length > 0) this.byOrder.set(oldest.orderId, ofOrder);
    else this.byOrder.delete(oldest.orderId);
  }

  /** Refunds `amount`, or all that is left of the charge when it is absent. */
  refund(input: CreateRefundBody): RefundView {
    const charge = this.charges.get(input.chargeId);
    if (!charge) throw new ChargeNotFound();
    const left = charge.amount - charge.refundedAmount;
    if (charge.status !== 'succeeded' || left === 0) throw new ChargeNotRefundable(charge.status === 'succeeded' ? 'refunded' : 'failed');
    const amount = input.amount ?? left;
    if (amount > left) throw new RefundExceedsCharge(left);
    const refund: RefundView = {
      id: newId('re'),
      chargeId: charge.id,
      amount,
      reference: input.reference ?? null,
      createdAt: new Date().toISOString(),
    };
    charge.refunds.push(refund);
    charge.refundedAmount += amount;
    return { ...refund };
  }

  get(id: string): ChargeView {
    const charge = this.charges.get(id);
    if (!charge) throw new ChargeNotFound();
    return copy(charge);
  }

  /** Oldest first. */
  forOrder(orderId: string): ChargeView[] {
    return (this.byOrder.get(orderId) ?? []).map(copy);
  }
}

function copy(charge: ChargeView): ChargeView {
  return { ...charge, refunds: charge.refunds.map((r) => ({ ...r })) };
}
