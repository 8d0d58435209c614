import { problemMapping, type ProblemInit } from '@platform/service-kit';
import { isPaymentError, type GatewayUnavailable, type OrderNotPayable } from '../payments/errors';

const notPayable = (e: OrderNotPayable): ProblemInit => ({
  status: 409,
  code: 'ORDER_NOT_PAYABLE',
  detail: e.message,
  headers: e.retryAfterSeconds ? { 'retry-after': String(e.retryAfterSeconds) } : undefined,
});

const gatewayError = (e: GatewayUnavailable): ProblemInit => ({
  status: 502,
  code: 'GATEWAY_ERROR',
  detail: e.message,
  extensions: e.paymentId ? { paymentId: e.paymentId } : undefined,
});

/**
 * payment-service's errors on the wire (CONTRACT.md, Payments and Idempotency keys), applied by
 * routes/payments.ts. The detail is the error's own sentence.
 */
export const paymentProblems = problemMapping(isPaymentError, {
  OrderNotFound: (e) => ({ status: 404, code: 'NOT_FOUND', detail: e.message }),
  OrderNotPayable: notPayable,
  AccessRevoked: (e) => ({ status: 401, code: 'UNAUTHORIZED', detail: e.message }),
  // The code is the failure's own: CARD_DECLINED or INSUFFICIENT_FUNDS.
  PaymentDeclined: (e) => ({ status: 402, code: e.failureCode, detail: e.message, extensions: { paymentId: e.paymentId } }),
  UnknownCardToken: (e) => ({
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: e.message,
    errors: [{ path: 'body/paymentMethod/token', message: 'unknown card token' }],
  }),
  GatewayUnavailable: gatewayError,
  KeyReused: (e) => ({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED', detail: e.message }),
  KeyInProgress: (e) => ({ status: 409, code: 'IDEMPOTENCY_REQUEST_IN_PROGRESS', detail: e.message, headers: { 'retry-after': '1' } }),
  PaymentNotFound: (e) => ({ status: 404, code: 'NOT_FOUND', detail: e.message }),
  PaymentNotRefundable: (e) => ({ status: 409, code: 'PAYMENT_NOT_REFUNDABLE', detail: e.message }),
  RefundExceedsPayment: (e) => ({ status: 409, code: 'REFUND_EXCEEDS_PAYMENT', detail: e.message, extensions: { refundable: e.refundable } }),
});
