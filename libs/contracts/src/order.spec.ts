import { OrderView } from './order';
import { peerReader } from './peer-reader';

const readOrder = peerReader(OrderView);

const order = () => ({
  id: '01960000-0000-7000-8000-000000000001',
  userId: '01960000-0000-7000-8000-000000000002',
  status: 'PENDING',
  currency: 'EUR',
  totalAmount: 3998,
  items: [{ sku: 'SKU-1', name: 'Tea', unitPrice: 1999, quantity: 2, lineTotal: 3998 }],
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
});

describe('reading an order from its peer', () => {
  it('when the JSON has the order shape, then it is read as it is', () => {
    expect(readOrder(order())).toEqual(order());
  });

  it('when the peer adds a member the shape does not declare, then it is dropped and the rest read', () => {
    const newer = { ...order(), loyaltyPoints: 12, items: [{ ...order().items[0], giftWrap: true }] };
    expect(readOrder(newer)).toEqual(order());
  });

  it.each([
    ['a missing member', (o: Record<string, unknown>) => delete o['totalAmount']],
    ['an amount that is not an integer', (o: Record<string, unknown>) => (o['totalAmount'] = 39.98)],
    ['an amount sent as text', (o: Record<string, unknown>) => (o['totalAmount'] = '3998')],
    ['an unknown status', (o: Record<string, unknown>) => (o['status'] = 'SHIPPED')],
    ['an id that is not a UUID', (o: Record<string, unknown>) => (o['id'] = 'order-1')],
    ['a time that is not ISO 8601', (o: Record<string, unknown>) => (o['createdAt'] = 'yesterday')],
  ])('when the JSON has %s, then it is not an order', (_what, spoil) => {
    const o: Record<string, unknown> = order();
    spoil(o);
    expect(readOrder(o)).toBeUndefined();
  });

  it('when the JSON is not an object, then it is not an order', () => {
    for (const json of [null, 'order', 42, [order()]]) expect(readOrder(json)).toBeUndefined();
  });
});
