import { uuidToBinary } from '@platform/db';
import { eventually } from '@platform/testing';
import { randomUUID } from 'node:crypto';
import { bearer, buildWorld, cancelOrder, card, chargesOf, orderOf, pay, placeOrder, type PaymentJson, type World } from './helper';

/**
 * The saga across services: a payment that succeeds for an order cancelled meanwhile is
 * refunded by compensation, and the money always adds up. The provider takes 300 ms per
 * charge, so a cancel lands while the charge is in flight.
 */
let w: World;
beforeAll(async () => {
  w = await buildWorld({ sandboxEnv: { GATEWAY_LATENCY_MS: '300' } });
}, 90_000);
afterAll(() => w?.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('when the order is cancelled while its charge is in flight, then the payment is refunded automatically and the order stays CANCELLED', async () => {
  const { token } = w.tokenFor();
  const order = await placeOrder(w, token);
  const paying = pay(w.app, token, { orderId: order.id, paymentMethod: card() });
  // Recorded PROCESSING just before the provider is asked, which takes 300 ms: the charge is in flight.
  const recorded = async () => ((await w.db.query('SELECT 1 FROM payments WHERE order_id = ?', [uuidToBinary(order.id)])) as unknown[]).length > 0;
  expect(await eventually(recorded, 2_000, 5)).toBe(true);
  expect(await cancelOrder(w, token, order.id)).toBe(200);
  const res = await paying;
  expect(res.statusCode).toBe(201);
  const payment = res.json() as PaymentJson;

  const refunded = await eventually(async () => {
    const now = await w.app.inject({ url: `/v1/payments/${payment.id}`, headers: bearer(token) });
    return (now.json() as PaymentJson).status === 'REFUNDED';
  }, 5_000, 50);
  expect(refunded).toBe(true);
  expect(await chargesOf(w, order.id)).toEqual([expect.objectContaining({ status: 'succeeded', amount: order.totalAmount, refundedAmount: order.totalAmount })]);
  // Delivered again (the events are at least once): nothing more is refunded.
  await sleep(500);
  expect((await orderOf(w, token, order.id)).status).toBe('CANCELLED');
  expect((await chargesOf(w, order.id))[0]?.refunds).toHaveLength(1);
});

it('when 12 orders are paid by 3 keys each while some are cancelled at random moments, then each ends PAID with its total charged once or CANCELLED with nothing kept', async () => {
  const users = Array.from({ length: 3 }, () => w.tokenFor());
  const tokenOf = (i: number) => (users[i % 3] as { token: string }).token;
  const orders = await Promise.all(Array.from({ length: 12 }, (_, i) => placeOrder(w, tokenOf(i), [{ sku: `SKU-${i}`, name: 'x', unitPrice: 100 + i, quantity: 1 + (i % 4) }])));
  await Promise.all(
    orders.map(async (order, i) => {
      const token = tokenOf(i);
      const attempts = Array.from({ length: 3 }, () => pay(w.app, token, { orderId: order.id, paymentMethod: card() }, randomUUID()));
      if (i % 2 === 0) {
        await sleep(Math.floor(Math.random() * 400));
        await cancelOrder(w, token, order.id);
      }
      await Promise.all(attempts);
    }),
  );

  // Compensation runs through two services and the provider; then the books must balance.
  for (const [i, order] of orders.entries()) {
    const token = tokenOf(i);
    const settled = await eventually(async () => {
      const status = (await orderOf(w, token, order.id)).status;
      const charges = await chargesOf(w, order.id);
      const kept = charges.filter((c) => c.status === 'succeeded').reduce((sum, c) => sum + c.amount - c.refundedAmount, 0);
      if (charges.filter((c) => c.status === 'succeeded').length > 1) throw new Error(`order ${order.id} was charged twice`);
      return (status === 'PAID' && kept === order.totalAmount) || (status === 'CANCELLED' && kept === 0);
    }, 8_000, 100);
    expect([order.id, settled]).toEqual([order.id, true]);
  }
  // The service's own books agree with the provider's.
  for (const [i, order] of orders.entries()) {
    const list = (await w.app.inject({ url: `/v1/payments?orderId=${order.id}`, headers: bearer(tokenOf(i)) })).json() as { data: PaymentJson[] };
    const charges = await chargesOf(w, order.id);
    const live = list.data.filter((p) => p.status !== 'FAILED');
    expect(live.length).toBe(charges.length);
    expect(live.map((p) => p.refundedAmount)).toEqual(charges.map((c) => c.refundedAmount));
  }
});
