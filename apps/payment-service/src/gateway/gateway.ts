/**
 * The payment provider as payment-service sees it: one interface, whatever the provider.
 * Every call carries an idempotency key of payment-service's own (the payment's or the
 * refund's id), so sending a call again can never move money twice.
 */
export interface ChargeRequest {
  /** The provider's idempotency key; the same for every attempt of one payment. */
  key: string;
  /** Our payment id, stored with the charge so that it can be found again (reconcile). */
  reference: string;
  orderId: string;
  amount: number;
  currency: string;
  token: string;
  requestId?: string;
}

export type ChargeOutcome =
  /** The money moved. */
  | { kind: 'succeeded'; chargeId: string }
  /** The provider refused the card: nothing moved, and that is final. */
  | { kind: 'declined'; chargeId: string | null; failureCode: string }
  /** The provider said it did nothing (its own error, or an unknown token); a new attempt may be made. */
  | { kind: 'rejected'; code: string; detail: string }
  /** No final answer, even after retries and asking the provider: the charge may or may not exist. */
  | { kind: 'unknown'; detail: string };

export interface RefundRequest {
  key: string;
  reference: string;
  chargeId: string;
  amount: number;
  requestId?: string;
}

export type RefundOutcome =
  | { kind: 'succeeded'; refundId: string }
  | { kind: 'rejected'; code: string; detail: string }
  | { kind: 'unknown'; detail: string };

export interface PaymentGateway {
  charge(request: ChargeRequest): Promise<ChargeOutcome>;
  refund(request: RefundRequest): Promise<RefundOutcome>;
  /** What the provider knows of the charge made with this reference: `unknown` when it cannot say. */
  findCharge(orderId: string, reference: string, requestId?: string): Promise<ChargeOutcome | { kind: 'absent' }>;
  /**
   * Makes the outcome of the charge sent with `key` final at the provider: the charge when it ran
   * (waiting for one in flight), else `cancelled`, after which a charge with that key never runs
   * (a provider's "cancel the payment intent"). Not finding a charge proves nothing: a request
   * the provider has received but not yet run (it was slow, or frozen) can still charge.
   */
  cancelCharge(key: string, requestId?: string): Promise<ChargeOutcome | { kind: 'cancelled' }>;
}
