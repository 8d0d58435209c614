import { newId } from '@platform/db';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';

/**
 * The events between order-service and payment-service: one schema per event, the wire
 * shape and the TypeScript type at once. Every object is closed (additionalProperties:
 * false); ids are UUID strings, times ISO 8601 strings, money integers of minor units.
 *
 * Formats are written as patterns: TypeBox checks an unregistered `format` as a failure,
 * and registering one would change a process-wide registry from a library.
 */

/** Stream names. payment-service publishes to `payments`; order-service to `order-refund-requests`. */
export const STREAMS = Object.freeze({ payments: 'payments', refundRequests: 'order-refund-requests' } as const);

const Uuid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });
const IsoTime = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$' });
const Money = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Currency = Type.String({ pattern: '^[A-Z]{3}$' });
/** Open-ended on purpose: a new failure code must not make older consumers drop the event. */
const FailureCode = Type.String({ pattern: '^[A-Z][A-Z0-9_]{0,63}$' });

const closed = { additionalProperties: false } as const;

/** What every event carries: its type, an id consumers dedupe by, and when it happened. */
const envelope = <T extends string>(type: T) => ({ type: Type.Literal(type), eventId: Uuid, occurredAt: IsoTime });

export const PaymentSucceeded = Type.Object(
  { ...envelope('payment.succeeded'), paymentId: Uuid, orderId: Uuid, userId: Uuid, amount: Money, currency: Currency },
  closed,
);
export type PaymentSucceeded = Static<typeof PaymentSucceeded>;

export const PaymentFailed = Type.Object(
  { ...envelope('payment.failed'), paymentId: Uuid, orderId: Uuid, userId: Uuid, failureCode: FailureCode },
  closed,
);
export type PaymentFailed = Static<typeof PaymentFailed>;

export const PaymentRefunded = Type.Object(
  {
    ...envelope('payment.refunded'),
    paymentId: Uuid,
    orderId: Uuid,
    userId: Uuid,
    refundId: Uuid,
    /** This refund. */
    amount: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    /** All refunds of the payment so far, this one included. */
    refundedAmount: Money,
    paymentAmount: Money,
    status: Type.Union([Type.Literal('PARTIALLY_REFUNDED'), Type.Literal('REFUNDED')]),
  },
  closed,
);
export type PaymentRefunded = Static<typeof PaymentRefunded>;

/** Everything payment-service publishes to STREAMS.payments. */
export const PaymentEvent = Type.Union([PaymentSucceeded, PaymentFailed, PaymentRefunded]);
export type PaymentEvent = Static<typeof PaymentEvent>;

/** order-service asks for a refund of a payment that succeeded for an order cancelled meanwhile. */
export const RefundRequested = Type.Object(
  { ...envelope('order.refund_requested'), orderId: Uuid, paymentId: Uuid, userId: Uuid, reason: Type.Literal('ORDER_CANCELLED') },
  closed,
);
export type RefundRequested = Static<typeof RefundRequested>;

/** Compiled once per schema; the schemas above are module constants, so the map stays small. */
const checks = new WeakMap<TSchema, TypeCheck<TSchema>>();

/**
 * The event if `data` is one `schema` describes, else undefined: undeclared properties,
 * wrong types and unknown `type` values alike. Consumers skip (ack) what they do not
 * understand, so a producer may add event types before every consumer knows them.
 */
export function parseEvent<T extends TSchema>(schema: T, data: unknown): Static<T> | undefined {
  let check = checks.get(schema);
  if (!check) checks.set(schema, (check = TypeCompiler.Compile(schema)));
  return check.Check(data) ? (data as Static<T>) : undefined;
}

type Envelope = { type: string; eventId: string; occurredAt: string };

/** An event of type E with a fresh UUIDv7 `eventId` and `occurredAt` now: `newEvent<PaymentFailed>({ type: 'payment.failed', … })`. */
export function newEvent<E extends Envelope>(fields: Omit<E, 'eventId' | 'occurredAt'>): E {
  return { eventId: newId(), occurredAt: new Date().toISOString(), ...fields } as E;
}
