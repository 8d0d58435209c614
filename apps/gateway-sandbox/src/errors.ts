import { DomainError } from '@platform/service-kit';

/**
 * What the provider's books refuse, in the ledger's words. The answers on the wire, and those
 * kept for an Idempotency-Key, are the routes' table (routes/problems.ts).
 */
abstract class LedgerErrorBase extends DomainError {}

export class ChargeNotFound extends LedgerErrorBase {
  readonly kind = 'ChargeNotFound';
  constructor() {
    super('No such charge.');
  }
}

/** The charge failed, or is refunded in full already. */
export class ChargeNotRefundable extends LedgerErrorBase {
  readonly kind = 'ChargeNotRefundable';
  constructor(readonly reason: 'failed' | 'refunded') {
    super(`The charge ${reason === 'refunded' ? 'has been refunded in full' : 'did not succeed'}.`);
  }
}

export class RefundExceedsCharge extends LedgerErrorBase {
  readonly kind = 'RefundExceedsCharge';
  constructor(readonly refundable: number) {
    super(`At most ${refundable} is left to refund.`);
  }
}

export type LedgerError = ChargeNotFound | ChargeNotRefundable | RefundExceedsCharge;

export const isLedgerError = (error: unknown): error is LedgerError => error instanceof LedgerErrorBase;
