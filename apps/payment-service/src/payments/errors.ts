import { DomainError } from '@platform/service-kit';

/**
 * What the payment use cases refuse, in the domain's words. Nothing here knows HTTP: the routes
 * say what each becomes on the wire (routes/problems.ts), and an event handler catches them by type.
 */
abstract class PaymentErrorBase extends DomainError {}

export class OrderNotFound extends PaymentErrorBase {
  readonly kind = 'OrderNotFound';
  constructor() {
    super('The order does not exist.');
  }
}

/** The order is not PENDING, is paid already, or another attempt holds it (then worth a retry soon). */
export class OrderNotPayable extends PaymentErrorBase {
  readonly kind = 'OrderNotPayable';
  constructor(
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** The caller's token, accepted here a moment ago, was refused by order-service: revoked meanwhile. */
export class AccessRevoked extends PaymentErrorBase {
  readonly kind = 'AccessRevoked';
  constructor() {
    super('The access token is no longer valid.');
  }
}

/** Failure codes that are the card's (a decline); any other failure is the provider's. */
export const DECLINE_CODES: ReadonlySet<string> = new Set(['CARD_DECLINED', 'INSUFFICIENT_FUNDS']);

/** The card was declined; the payment is kept as FAILED with this failure code. */
export class PaymentDeclined extends PaymentErrorBase {
  readonly kind = 'PaymentDeclined';
  constructor(
    readonly failureCode: string,
    readonly paymentId: string,
  ) {
    super(failureCode === 'INSUFFICIENT_FUNDS' ? 'The card has insufficient funds.' : 'The card was declined.');
  }
}

/** The provider does not know the card token; nothing was charged. */
export class UnknownCardToken extends PaymentErrorBase {
  readonly kind = 'UnknownCardToken';
  constructor() {
    super('The payment provider does not know this card token.');
  }
}

/**
 * The provider failed, refused to process, or did not answer. With `paymentId`, that payment
 * exists and its outcome is (or may be) the provider's failure; a retry with the same key settles it.
 */
export class GatewayUnavailable extends PaymentErrorBase {
  readonly kind = 'GatewayUnavailable';
  constructor(
    message: string,
    readonly paymentId?: string,
  ) {
    super(message);
  }
}

/** The Idempotency-Key names an earlier request with another body. */
export class KeyReused extends PaymentErrorBase {
  readonly kind = 'KeyReused';
  constructor() {
    super('This Idempotency-Key was used for a different request.');
  }
}

/** The earlier request with this key is still running (seen in MySQL when Redis had no record of it). */
export class KeyInProgress extends PaymentErrorBase {
  readonly kind = 'KeyInProgress';
  constructor() {
    super('A request with this Idempotency-Key is still being processed; retry later.');
  }
}

export class PaymentNotFound extends PaymentErrorBase {
  readonly kind = 'PaymentNotFound';
  constructor() {
    super('The payment does not exist.');
  }
}

/** Nothing to refund: the payment FAILED, or all of it is refunded (or being refunded) already. */
export class PaymentNotRefundable extends PaymentErrorBase {
  readonly kind = 'PaymentNotRefundable';
  constructor(readonly reason: 'failed' | 'nothing-left') {
    super(`The payment is ${reason === 'failed' ? 'FAILED' : 'already fully refunded'}.`);
  }
}

export class RefundExceedsPayment extends PaymentErrorBase {
  readonly kind = 'RefundExceedsPayment';
  constructor(readonly refundable: number) {
    super(`At most ${refundable} is left to refund.`);
  }
}

export type PaymentError =
  | OrderNotFound
  | OrderNotPayable
  | AccessRevoked
  | PaymentDeclined
  | UnknownCardToken
  | GatewayUnavailable
  | KeyReused
  | KeyInProgress
  | PaymentNotFound
  | PaymentNotRefundable
  | RefundExceedsPayment;

export const isPaymentError = (error: unknown): error is PaymentError => error instanceof PaymentErrorBase;
