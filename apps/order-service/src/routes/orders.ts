import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { OrderView } from '@platform/contracts';
import { readAheadOf, signedIn } from '@platform/request-pipeline';
import { entityTag, expectedVersions, NOT_MODIFIED, problemHandler, problemResponses, sendTagged, UNAVAILABLE } from '@platform/service-kit';
import type { Orders } from '../orders/orders';
import { CreateOrderBody, ListOrdersQuery, OrderIdParams, OrderPage } from '../schemas';
import { orderProblems } from './problems';

/** /v1/orders: the signed-in user's orders (CONTRACT.md, Orders). */
export const orderRoutes: FastifyPluginAsyncTypebox<{ orders: Orders }> = async (app, { orders }) => {
  app.setErrorHandler(problemHandler(orderProblems));
  const tags = ['orders'];
  const userId = (request: Parameters<typeof signedIn>[0]) => signedIn(request).userId;

  app.post('/v1/orders', {
    config: { idempotency: { required: false } },
    schema: {
      tags,
      operationId: 'createOrder',
      summary: 'Place an order; honours Idempotency-Key',
      body: CreateOrderBody,
      response: { 201: OrderView, ...problemResponses({ 503: UNAVAILABLE }) },
      responseHeaders: { 201: ['Location'] },
    },
    handler: async (request, reply) => {
      const order = await orders.create(userId(request), request.body);
      return reply.code(201).header('location', `/v1/orders/${order.id}`).send(order);
    },
  });

  app.get('/v1/orders', {
    schema: {
      tags,
      operationId: 'listOrders',
      summary: 'The signed-in user’s orders, newest first, by cursor',
      querystring: ListOrdersQuery,
      response: { 200: OrderPage, ...problemResponses({ 503: UNAVAILABLE }) },
    },
    handler: async (request) => orders.list(userId(request), request.query),
  });

  app.get('/v1/orders/:id', {
    config: { readAhead: (request) => orders.readAheadKeys((request.params as { id: string }).id) },
    schema: {
      tags,
      operationId: 'getOrder',
      summary: 'One order (cached 10 minutes); 304 while If-None-Match names its ETag',
      params: OrderIdParams,
      headerParameters: ['IfNoneMatch'],
      response: { 200: OrderView, 304: NOT_MODIFIED, ...problemResponses({ 404: ['NOT_FOUND'], 503: UNAVAILABLE }) },
      responseHeaders: { 200: ['ETag'], 304: ['ETag'] },
    },
    handler: async (request, reply) => {
      const order = await orders.get(userId(request), request.params.id, readAheadOf(request)?.[0]);
      return sendTagged(request, reply, entityTag(order.id, order.version), order);
    },
  });

  app.post('/v1/orders/:id/cancel', {
    schema: {
      tags,
      operationId: 'cancelOrder',
      summary: 'Cancel a PENDING order; with If-Match, only the version it names',
      params: OrderIdParams,
      headerParameters: ['IfMatch'],
      response: {
        200: OrderView,
        ...problemResponses({ 404: ['NOT_FOUND'], 409: ['ORDER_NOT_CANCELLABLE'], 412: ['PRECONDITION_FAILED'], 503: UNAVAILABLE }),
      },
      responseHeaders: { 200: ['ETag'] },
    },
    handler: async (request, reply) => {
      const { id } = request.params;
      const order = await orders.cancel(userId(request), id, expectedVersions(request, id));
      return reply.header('etag', entityTag(order.id, order.version)).send(order);
    },
  });
};
