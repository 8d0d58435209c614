import {
  AccessRevoked,
  GatewayUnavailable,
  KeyInProgress,
  KeyReused,
  OrderNotFound,
  OrderNotPayable,
  PaymentDeclined,
  PaymentNotFound,
  PaymentNotRefundable,
  RefundExceedsPayment,
  UnknownCardToken,
} from '../payments/errors';
import { paymentProblems } from './problems';

const PAYMENT_ID = '01960000-0000-7000-8000-000000000003';

/** Each domain error, and the answer the contract (and the README) promise for it. */
describe("payment-service's errors on the wire", () => {
  it.each([
    [new OrderNotFound(), { status: 404, code: 'NOT_FOUND', detail: 'The order does not exist.' }],
    [new OrderNotPayable('The order is PAID; only a PENDING order can be paid.'), { status: 409, code: 'ORDER_NOT_PAYABLE', detail: 'The order is PAID; only a PENDING order can be paid.' }],
    [
      new OrderNotPayable('Another payment for this order is in progress.', 3),
      { status: 409, code: 'ORDER_NOT_PAYABLE', detail: 'Another payment for this order is in progress.', headers: { 'retry-after': '3' } },
    ],
    [new AccessRevoked(), { status: 401, code: 'UNAUTHORIZED', detail: 'The access token is no longer valid.' }],
    [new PaymentDeclined('CARD_DECLINED', PAYMENT_ID), { status: 402, code: 'CARD_DECLINED', detail: 'The card was declined.', extensions: { paymentId: PAYMENT_ID } }],
    [
      new PaymentDeclined('INSUFFICIENT_FUNDS', PAYMENT_ID),
      { status: 402, code: 'INSUFFICIENT_FUNDS', detail: 'The card has insufficient funds.', extensions: { paymentId: PAYMENT_ID } },
    ],
    [
      new UnknownCardToken(),
      {
        status: 400,
        code: 'VALIDATION_FAILED',
        detail: 'The payment provider does not know this card token.',
        errors: [{ path: 'body/paymentMethod/token', message: 'unknown card token' }],
      },
    ],
    [new GatewayUnavailable('The payment provider did not answer.', PAYMENT_ID), { status: 502, code: 'GATEWAY_ERROR', detail: 'The payment provider did not answer.', extensions: { paymentId: PAYMENT_ID } }],
    [new GatewayUnavailable('Nothing was charged.'), { status: 502, code: 'GATEWAY_ERROR', detail: 'Nothing was charged.' }],
    [new KeyReused(), { status: 422, code: 'IDEMPOTENCY_KEY_REUSED', detail: 'This Idempotency-Key was used for a different request.' }],
    [
      new KeyInProgress(),
      { status: 409, code: 'IDEMPOTENCY_REQUEST_IN_PROGRESS', detail: 'A request with this Idempotency-Key is still being processed; retry later.', headers: { 'retry-after': '1' } },
    ],
    [new PaymentNotFound(), { status: 404, code: 'NOT_FOUND', detail: 'The payment does not exist.' }],
    [new PaymentNotRefundable('failed'), { status: 409, code: 'PAYMENT_NOT_REFUNDABLE', detail: 'The payment is FAILED.' }],
    [new PaymentNotRefundable('nothing-left'), { status: 409, code: 'PAYMENT_NOT_REFUNDABLE', detail: 'The payment is already fully refunded.' }],
    [new RefundExceedsPayment(250), { status: 409, code: 'REFUND_EXCEEDS_PAYMENT', detail: 'At most 250 is left to refund.', extensions: { refundable: 250 } }],
  ])('when the use case throws %s, then the answer is as promised', (error, answer) => {
    const mapped = paymentProblems(error);
    // Members left undefined are not sent; compare what is.
    expect(JSON.parse(JSON.stringify(mapped))).toEqual(answer);
  });

  it('when the error is not one of the service, then the table leaves it to the kit', () => {
    expect(paymentProblems(new Error('bug'))).toBeUndefined();
  });
});
