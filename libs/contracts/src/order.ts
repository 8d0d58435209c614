import { Type, type Static } from '@sinclair/typebox';

/**
 * The order as order-service answers it (CONTRACT.md, Orders): order-service validates and
 * serialises its answers with these schemas, and payment-service reads its peer's answer with them.
 */
export const ORDER_STATUSES = ['PENDING', 'PAID', 'CANCELLED', 'REFUNDED'] as const;

export const OrderStatus = Type.Union(
  ORDER_STATUSES.map((s) => Type.Literal(s)),
  { description: 'PENDING -> PAID -> REFUNDED, or PENDING -> CANCELLED.' },
);
export type OrderStatus = Static<typeof OrderStatus>;

const Money = (description: string) => Type.Integer({ description });

export const OrderItemView = Type.Object(
  { sku: Type.String(), name: Type.String(), unitPrice: Type.Integer(), quantity: Type.Integer(), lineTotal: Money('unitPrice × quantity') },
  { additionalProperties: false },
);
export type OrderItemView = Static<typeof OrderItemView>;

export const OrderView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    userId: Type.String({ format: 'uuid' }),
    status: OrderStatus,
    currency: Type.String(),
    totalAmount: Money('The sum of the line totals, in minor units; computed by the server.'),
    items: Type.Array(OrderItemView),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type OrderView = Static<typeof OrderView>;
