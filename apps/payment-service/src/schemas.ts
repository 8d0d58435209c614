import { Type, type Static } from '@sinclair/typebox';

/** Wire shapes of payment-service (CONTRACT.md, Payments). */
export const PAYMENT_STATUSES = ['SUCCEEDED', 'FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

const Uuid = Type.String({ format: 'uuid' });
const Money = (description: string) => Type.Integer({ description });

export const CreatePaymentBody = Type.Object(
  {
    orderId: Uuid,
    paymentMethod: Type.Object(
      {
        type: Type.Literal('card'),
        token: Type.String({
          minLength: 5,
          maxLength: 64,
          pattern: '^tok_[A-Za-z0-9_]+$',
          description: 'A card token from the provider; the sandbox knows tok_visa, tok_mastercard, tok_chargeDeclined, …',
          examples: ['tok_visa'],
        }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, description: 'Amount and currency are the order’s; a client cannot name them.' },
);
export type CreatePaymentBody = Static<typeof CreatePaymentBody>;

export const PaymentView = Type.Object(
  {
    id: Uuid,
    orderId: Uuid,
    userId: Uuid,
    amount: Money('The order’s total, in minor units.'),
    currency: Type.String(),
    status: Type.Union(
      PAYMENT_STATUSES.map((s) => Type.Literal(s)),
      { description: 'SUCCEEDED -> PARTIALLY_REFUNDED -> REFUNDED, or FAILED (declined).' },
    ),
    failureCode: Type.Union([Type.String(), Type.Null()], { description: 'CARD_DECLINED or INSUFFICIENT_FUNDS when FAILED.' }),
    refundedAmount: Money('The sum of the refunds that went through.'),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type PaymentView = Static<typeof PaymentView>;

export const PaymentList = Type.Object({ data: Type.Array(PaymentView) }, { additionalProperties: false });

export const ListPaymentsQuery = Type.Object({ orderId: Uuid }, { additionalProperties: false });

export const PaymentIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });

export const CreateRefundBody = Type.Object(
  {
    amount: Type.Optional(
      Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Minor units; omitted = all that is left of the payment.' }),
    ),
  },
  { additionalProperties: false },
);
export type CreateRefundBody = Static<typeof CreateRefundBody>;

export const RefundView = Type.Object(
  { id: Uuid, paymentId: Uuid, amount: Money('This refund, in minor units.'), createdAt: Type.String({ format: 'date-time' }) },
  { additionalProperties: false },
);
export type RefundView = Static<typeof RefundView>;
