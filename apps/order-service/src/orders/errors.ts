import type { OrderStatus } from '@platform/contracts';
import { DomainError } from '@platform/service-kit';

/**
 * What the order use cases refuse, in the domain's words. Nothing here knows HTTP: the routes
 * say what each becomes on the wire (routes/problems.ts).
 */
abstract class OrderErrorBase extends DomainError {}

/** No such order, or another user's: the same, so that an order's existence is not told. */
export class OrderNotFound extends OrderErrorBase {
  readonly kind = 'OrderNotFound';
  constructor() {
    super('No such order.');
  }
}

/** Only a PENDING order can be cancelled. */
export class OrderNotCancellable extends OrderErrorBase {
  readonly kind = 'OrderNotCancellable';
  constructor(readonly status: OrderStatus) {
    super(`Only a PENDING order can be cancelled; this one is ${status}.`);
  }
}

/** The caller's If-Match names a version of the order that is no longer current. */
export class OrderChanged extends OrderErrorBase {
  readonly kind = 'OrderChanged';
  constructor() {
    super('The order has changed since the version the request names.');
  }
}

/** A line total or the total would not be exact: money stays below 2^53 minor units. */
export class OrderTotalTooLarge extends OrderErrorBase {
  readonly kind = 'OrderTotalTooLarge';
  constructor() {
    super('The order total is too large.');
  }
}

/** A list cursor that is not one of this user's, for this status filter; `reason` says how. */
export class InvalidCursor extends OrderErrorBase {
  readonly kind = 'InvalidCursor';
  constructor(readonly reason: string) {
    super('The cursor is not valid for this list.');
  }
}

/** The user already has as many live status streams open as one may, on whatever instances. */
export class TooManyStreams extends OrderErrorBase {
  readonly kind = 'TooManyStreams';
  constructor(readonly limit: number) {
    super(`At most ${limit} live status streams may be open at once; close one first.`);
  }
}

export type OrderError = OrderNotFound | OrderNotCancellable | OrderChanged | OrderTotalTooLarge | InvalidCursor | TooManyStreams;

export const isOrderError = (error: unknown): error is OrderError => error instanceof OrderErrorBase;
