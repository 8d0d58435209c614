import { OrderView, peerReader } from '@platform/contracts';
import { DependencyUnavailableError, peerFetch } from '@platform/service-kit';
import type { FastifyRequest } from 'fastify';
import { AccessRevoked, OrderNotFound } from './errors';

/** order-service's answer, checked against the order's shared wire shape (libs/contracts). */
const readOrder = peerReader(OrderView);

/**
 * Reads an order from order-service as the caller: with the caller's own bearer token and
 * request id, so order-service decides ownership (another user's order is its 404) and one
 * request id follows the payment through both services' logs.
 */
export function orderClient(baseUrl: string, timeoutMs = 5_000) {
  return Object.freeze({
    async get(request: FastifyRequest, orderId: string): Promise<OrderView> {
      let res: Response;
      try {
        res = await peerFetch(request, new URL(`/v1/orders/${encodeURIComponent(orderId)}`, baseUrl), {
          headers: { authorization: request.headers.authorization ?? '', accept: 'application/json' },
          timeoutMs,
        });
      } catch (err) {
        throw new DependencyUnavailableError('order-service', { cause: err });
      }
      if (res.status === 200) {
        const order = readOrder(await res.json());
        // Not an order, or one no payment could be for: order-service is not answering as agreed.
        if (!order || !Number.isSafeInteger(order.totalAmount) || order.totalAmount <= 0) throw new DependencyUnavailableError('order-service');
        return order;
      }
      await res.body?.cancel();
      if (res.status === 404) throw new OrderNotFound();
      // The token passed here a moment ago; order-service refusing it means it was revoked meanwhile.
      if (res.status === 401) throw new AccessRevoked();
      throw new DependencyUnavailableError('order-service', { cause: new Error(`order-service answered ${res.status}`) });
    },
  });
}

export type OrderClient = ReturnType<typeof orderClient>;
