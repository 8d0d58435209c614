import { Currency, OrderStatus, OrderView } from '@platform/contracts';
import { Type, type Static } from '@sinclair/typebox';

/**
 * Wire shapes of order-service (CONTRACT.md, Orders). Limits are inclusive. The order itself
 * (`OrderView`, `OrderStatus`) is in libs/contracts, which payment-service reads it with.
 */
export const ORDER_LIMITS = Object.freeze({
  minItems: 1,
  maxItems: 100,
  maxQuantity: 1_000,
  maxUnitPrice: 100_000_000,
  defaultPageSize: 20,
  maxPageSize: 100,
});

const Sku = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$', examples: ['SKU-42'] });
const ItemName = Type.String({ minLength: 1, maxLength: 200, description: '1 to 200 characters (code points).', examples: ['Tea, 250 g'] });

export const CreateOrderBody = Type.Object(
  {
    currency: Currency,
    items: Type.Array(
      Type.Object(
        {
          sku: Sku,
          name: ItemName,
          unitPrice: Type.Integer({ minimum: 1, maximum: ORDER_LIMITS.maxUnitPrice, description: 'Minor units (1999 = 19.99).' }),
          quantity: Type.Integer({ minimum: 1, maximum: ORDER_LIMITS.maxQuantity }),
        },
        { additionalProperties: false },
      ),
      { minItems: ORDER_LIMITS.minItems, maxItems: ORDER_LIMITS.maxItems },
    ),
  },
  { additionalProperties: false },
);
export type CreateOrderBody = Static<typeof CreateOrderBody>;

export const OrderPage = Type.Object(
  {
    data: Type.Array(OrderView),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null on the last page.' }),
  },
  { additionalProperties: false },
);
export type OrderPage = Static<typeof OrderPage>;

export const ListOrdersQuery = Type.Object(
  {
    // Optional on the wire; validation fills in the default, so handlers always see a number.
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: ORDER_LIMITS.maxPageSize, default: ORDER_LIMITS.defaultPageSize })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Opaque; from the previous page, with the same status filter.' })),
    status: Type.Optional(OrderStatus),
  },
  { additionalProperties: false },
);
export type ListOrdersQuery = Static<typeof ListOrdersQuery>;

export const OrderIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
