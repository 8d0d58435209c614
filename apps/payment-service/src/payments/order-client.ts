import { OrderView, peerReader } from '@platform/contracts';
import { DependencyUnavailableError, peerRequest } from '@platform/service-kit';
import type { FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import { AccessRevoked, OrderNotFound } from './errors';

/** order-service's answer, checked against the order's shared wire shape (libs/contracts). */
const readOrder = peerReader(OrderView);

/**
 * Reads an order from order-service as the caller: with the caller's own bearer token and
 * request id, so order-service decides ownership (another user's order is its 404) and one
 * request id follows the payment through both services' logs. With PEER_SECRET, the call is
 * vouched for (`vouch`: libs/request-pipeline peer.ts): this service's pipeline admitted the
 * request, so order-service takes no second step of the user's rate limit for it. The call goes
 * through `peers` (`app.peers`), whose timeouts bound it: an order-service that does not answer is a 503.
 */
export function orderClient(baseUrl: string, peers: Dispatcher, vouch: Readonly<Record<string, string>> = {}) {
  return Object.freeze({
    async get(request: FastifyRequest, orderId: string): Promise<OrderView> {
      let status: number;
      let body: unknown;
      try {
        const res = await peerRequest(request, peers, new URL(`/v1/orders/${encodeURIComponent(orderId)}`, baseUrl), {
          // no-store: the payment's event changes the order moments later, so a cached copy would go unread.
          headers: { authorization: request.headers.authorization ?? '', accept: 'application/json', 'cache-control': 'no-store', ...vouch },
        });
        status = res.statusCode;
        // Read or dropped in full: either frees the connection for the next call.
        if (status === 200) body = await res.body.json();
        else await res.body.dump();
      } catch (err) {
        throw new DependencyUnavailableError('order-service', { cause: err });
      }
      if (status === 200) {
        const order = readOrder(body);
        // Not an order, or one no payment could be for: order-service is not answering as agreed.
        if (!order || !Number.isSafeInteger(order.totalAmount) || order.totalAmount <= 0) throw new DependencyUnavailableError('order-service');
        return order;
      }
      if (status === 404) throw new OrderNotFound();
      // The token passed here a moment ago; order-service refusing it means it was revoked (or expired) meanwhile.
      if (status === 401) throw new AccessRevoked();
      throw new DependencyUnavailableError('order-service', { cause: new Error(`order-service answered ${status}`) });
    },
  });
}

export type OrderClient = ReturnType<typeof orderClient>;
