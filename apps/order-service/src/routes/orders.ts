import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { OrderView } from '@platform/contracts';
import { readAheadOf, signedIn } from '@platform/request-pipeline';
import { problemHandler, problemResponses } from '@platform/service-kit';
import type { Orders } from '../orders/orders';
import { CreateOrderBody, ListOrdersQuery, OrderIdParams, OrderPage } from '../schemas';
import { orderProblems } from './problems';

/** /v1/orders: the signed-in user's orders (CONTRACT.md, Orders). */
export const orderRoutes: FastifyPluginAsyncTypebox<{ orders: Orders }> = async (app, { orders }) => {
  app.setErrorHandler(problemHandler(orderProblems));
  const common = { tags: ['orders'], security: [{ bearerAuth: [] }] };
  const userId = (request: Parameters<typeof signedIn>[0]) => signedIn(request).userId;

  app.post('/v1/orders', {
    config: { idempotency: { required: false } },
    schema: {
      ...common,
      summary: 'Place an order; honours Idempotency-Key',
      body: CreateOrderBody,
      response: { 201: OrderView, ...problemResponses(400, 401, 409, 422, 429, 503) },
    },
    handler: async (request, reply) => {
      const order = await orders.create(userId(request), request.body);
      return reply.code(201).header('location', `/v1/orders/${order.id}`).send(order);
    },
  });

  app.get('/v1/orders', {
    schema: {
      ...common,
      summary: 'The signed-in user’s orders, newest first, by cursor',
      querystring: ListOrdersQuery,
      response: { 200: OrderPage, ...problemResponses(400, 401, 429) },
    },
    handler: async (request) => orders.list(userId(request), request.query),
  });

  app.get('/v1/orders/:id', {
    config: { readAhead: (request) => orders.readAheadKeys((request.params as { id: string }).id) },
    schema: { ...common, summary: 'One order (cached 10 minutes)', params: OrderIdParams, response: { 200: OrderView, ...problemResponses(401, 404, 429) } },
    handler: async (request) => orders.get(userId(request), request.params.id, readAheadOf(request)?.[0]),
  });

  app.post('/v1/orders/:id/cancel', {
    schema: {
      ...common,
      summary: 'Cancel a PENDING order',
      params: OrderIdParams,
      response: { 200: OrderView, ...problemResponses(401, 404, 409, 429) },
    },
    handler: async (request) => orders.cancel(userId(request), request.params.id),
  });
};
