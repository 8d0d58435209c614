import { InvalidCursor, OrderChanged, OrderNotCancellable, OrderNotFound, OrderTotalTooLarge, TooManyStreams } from '../orders/errors';
import { orderProblems } from './problems';

/** Each domain error, and the answer the contract (and the README) promise for it. */
describe("order-service's errors on the wire", () => {
  it.each([
    [new OrderNotFound(), { status: 404, code: 'NOT_FOUND', detail: 'No such order.' }],
    [new OrderNotCancellable('PAID'), { status: 409, code: 'ORDER_NOT_CANCELLABLE', detail: 'Only a PENDING order can be cancelled; this one is PAID.' }],
    [new OrderChanged(), { status: 412, code: 'PRECONDITION_FAILED', detail: 'The order has changed since the version the request names.' }],
    [
      new OrderTotalTooLarge(),
      {
        status: 400,
        code: 'VALIDATION_FAILED',
        detail: 'The order total is too large.',
        errors: [{ path: 'body/items', message: 'the total must stay below 2^53 minor units' }],
      },
    ],
    [
      new InvalidCursor('belongs to another list'),
      {
        status: 400,
        code: 'VALIDATION_FAILED',
        detail: 'The cursor is not valid for this list.',
        errors: [{ path: 'querystring/cursor', message: 'belongs to another list' }],
      },
    ],
    [
      new TooManyStreams(10),
      {
        status: 429,
        code: 'TOO_MANY_STREAMS',
        detail: 'At most 10 live status streams may be open at once; close one first.',
        headers: { 'retry-after': '5' },
      },
    ],
  ])('when the use case throws %s, then the answer is as promised', (error, answer) => {
    expect(orderProblems(error)).toEqual(answer);
  });

  it('when the error is not one of the service, then the table leaves it to the kit', () => {
    expect(orderProblems(new Error('bug'))).toBeUndefined();
  });
});
