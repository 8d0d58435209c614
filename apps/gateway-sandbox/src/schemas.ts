import { Currency } from '@platform/contracts';
import { Type, type Static } from '@sinclair/typebox';

/** Wire shapes of the sandbox provider (CONTRACT.md, Payments; apps/gateway-sandbox/README.md). */

const Amount = (description: string) => Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description });
const Reference = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$', description: 'The caller’s own reference, echoed back.' });
const Time = Type.String({ format: 'date-time' });
const NullableReference = Type.Union([Type.String(), Type.Null()]);

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ pattern: '^[\\x21-\\x7E]{1,255}$', description: 'Required: 1 to 255 visible ASCII characters; scoped to the route.' }),
  ),
});

export const CreateChargeBody = Type.Object(
  {
    amount: Amount('Minor units (1999 = 19.99).'),
    currency: Currency,
    token: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^tok_[A-Za-z0-9_]+$',
      description: 'A test token: tok_visa, tok_mastercard, tok_chargeDeclined, tok_chargeDeclinedInsufficientFunds, tok_gatewayError.',
    }),
    orderId: Type.String({ format: 'uuid' }),
    reference: Type.Optional(Reference),
  },
  { additionalProperties: false },
);
export type CreateChargeBody = Static<typeof CreateChargeBody>;

export const CreateRefundBody = Type.Object(
  {
    chargeId: Type.String({ minLength: 1, maxLength: 64 }),
    amount: Type.Optional(Amount('Minor units; absent = all that is left.')),
    reference: Type.Optional(Reference),
  },
  { additionalProperties: false },
);
export type CreateRefundBody = Static<typeof CreateRefundBody>;

export const RefundView = Type.Object(
  { id: Type.String(), chargeId: Type.String(), amount: Type.Integer(), reference: NullableReference, createdAt: Time },
  { additionalProperties: false },
);
export type RefundView = Static<typeof RefundView>;

export const ChargeView = Type.Object(
  {
    id: Type.String(),
    orderId: Type.String(),
    reference: NullableReference,
    amount: Type.Integer(),
    currency: Type.String(),
    status: Type.Union([Type.Literal('succeeded'), Type.Literal('failed')]),
    failureCode: Type.Union([Type.Literal('CARD_DECLINED'), Type.Literal('INSUFFICIENT_FUNDS'), Type.Null()]),
    refundedAmount: Type.Integer(),
    refunds: Type.Array(RefundView),
    createdAt: Time,
  },
  { additionalProperties: false },
);
export type ChargeView = Static<typeof ChargeView>;

export const ChargeList = Type.Object({ data: Type.Array(ChargeView) }, { additionalProperties: false });

export const ListChargesQuery = Type.Object({ orderId: Type.String({ format: 'uuid' }) }, { additionalProperties: false });

/** Any id that is not a charge's is a 404, whatever its shape. */
export const ChargeIdParams = Type.Object({ id: Type.String({ minLength: 1 }) }, { additionalProperties: false });
