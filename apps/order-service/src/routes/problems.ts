import { problemMapping } from '@platform/service-kit';
import { isOrderError } from '../orders/errors';

/**
 * order-service's errors on the wire (CONTRACT.md, Orders), applied by routes/orders.ts. The
 * detail is the error's own sentence; input the use cases refuse is a 400 VALIDATION_FAILED that
 * names the part of the request, as schema validation does.
 */
export const orderProblems = problemMapping(isOrderError, {
  OrderNotFound: (e) => ({ status: 404, code: 'NOT_FOUND', detail: e.message }),
  OrderNotCancellable: (e) => ({ status: 409, code: 'ORDER_NOT_CANCELLABLE', detail: e.message }),
  OrderChanged: (e) => ({ status: 412, code: 'PRECONDITION_FAILED', detail: e.message }),
  OrderTotalTooLarge: (e) => ({
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: e.message,
    errors: [{ path: 'body/items', message: 'the total must stay below 2^53 minor units' }],
  }),
  // Retry-After as on every 429: a stream of the user's that ends frees its place at once.
  TooManyStreams: (e) => ({ status: 429, code: 'TOO_MANY_STREAMS', detail: e.message, headers: { 'retry-after': '5' } }),
  InvalidCursor: (e) => ({ status: 400, code: 'VALIDATION_FAILED', detail: e.message, errors: [{ path: 'querystring/cursor', message: e.reason }] }),
});
