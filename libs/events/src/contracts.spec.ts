import { newId } from '@platform/db';
import { newEvent, parseEvent, PaymentEvent, PaymentFailed, PaymentRefunded, PaymentSucceeded, RefundRequested } from './contracts';

const succeeded = (): PaymentSucceeded => ({
  type: 'payment.succeeded',
  eventId: newId(),
  occurredAt: new Date().toISOString(),
  paymentId: newId(),
  orderId: newId(),
  userId: newId(),
  amount: 4_250,
  currency: 'EUR',
});

const refunded = (): PaymentRefunded => ({
  type: 'payment.refunded',
  eventId: newId(),
  occurredAt: '2025-11-22T10:00:00.123Z',
  paymentId: newId(),
  orderId: newId(),
  userId: newId(),
  refundId: newId(),
  amount: 1_000,
  refundedAmount: 1_000,
  paymentAmount: 4_250,
  status: 'PARTIALLY_REFUNDED',
});

describe('parseEvent', () => {
  it('when each event is as declared, then it comes back as it is, from its own schema and from the union', () => {
    const failedEvent: PaymentFailed = {
      type: 'payment.failed',
      eventId: newId(),
      occurredAt: '2025-11-22T10:00:00+01:00',
      paymentId: newId(),
      orderId: newId(),
      userId: newId(),
      failureCode: 'CARD_DECLINED',
    };
    for (const event of [succeeded(), refunded(), failedEvent]) {
      expect(parseEvent(PaymentEvent, event)).toEqual(event);
    }
    expect(parseEvent(PaymentSucceeded, succeeded())).toBeDefined();
    expect(parseEvent(PaymentFailed, failedEvent)).toBeDefined();
    const request = newEvent<RefundRequested>({ type: 'order.refund_requested', orderId: newId(), paymentId: newId(), userId: newId(), reason: 'ORDER_CANCELLED' });
    expect(parseEvent(RefundRequested, request)).toEqual(request);
  });

  it('when an event carries a property it does not declare, then it is rejected', () => {
    expect(parseEvent(PaymentEvent, { ...succeeded(), extra: 1 })).toBeUndefined();
    expect(parseEvent(PaymentSucceeded, { ...succeeded(), refundId: newId() })).toBeUndefined();
  });

  it('when a field has the wrong type or form, or one is missing, then it is rejected', () => {
    const bad: Record<string, unknown>[] = [
      { amount: '4250' },
      { amount: 42.5 },
      { amount: -1 },
      { currency: 'eur' },
      { orderId: 'not-a-uuid' },
      { occurredAt: '22/11/2025' },
      { eventId: undefined },
    ];
    for (const change of bad) expect(parseEvent(PaymentEvent, { ...succeeded(), ...change })).toBeUndefined();
    expect(parseEvent(PaymentRefunded, { ...refunded(), status: 'SUCCEEDED' })).toBeUndefined();
    expect(parseEvent(PaymentRefunded, { ...refunded(), amount: 0 })).toBeUndefined();
    const request = newEvent<RefundRequested>({ type: 'order.refund_requested', orderId: newId(), paymentId: newId(), userId: newId(), reason: 'ORDER_CANCELLED' });
    expect(parseEvent(RefundRequested, { ...request, reason: 'OTHER' })).toBeUndefined();
  });

  it('when the type is unknown, or the data is not an object, then it is undefined (the consumer skips it)', () => {
    expect(parseEvent(PaymentEvent, { ...succeeded(), type: 'payment.disputed' })).toBeUndefined();
    expect(parseEvent(PaymentSucceeded, { ...succeeded(), type: 'payment.failed' })).toBeUndefined();
    for (const data of [null, undefined, 'payment.succeeded', 42, []]) expect(parseEvent(PaymentEvent, data)).toBeUndefined();
  });

  it('when a refund event is parsed from the union, then its type narrows it', () => {
    const event = parseEvent(PaymentEvent, refunded());
    if (event?.type !== 'payment.refunded') throw new Error('expected a refund');
    expect(event.refundedAmount).toBe(1_000);
  });
});
