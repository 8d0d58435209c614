import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { signedIn } from '@platform/auth';
import { OrderView } from '@platform/contracts';
import { problemHandler, problemResponses } from '@platform/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Orders } from '../orders/orders';
import { CreateOrderBody, ListOrdersQuery, OrderIdParams, OrderPage } from '../schemas';
import { orderProblems } from './problems';

/** What Fastify sets for a JSON body it serialises, set for one it is handed serialised. */
const JSON_BODY = 'application/json; charset=utf-8';

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

  const idOf = (request: FastifyRequest) => (request.params as { id: string }).id;
  app.get('/v1/orders/:id', {
    // The cache read joins the token and limit checks' script: one Redis command for a hit.
    config: { prefetch: (request) => orders.prefetch(request, idOf(request)) },
    // The route's hook runs after the token and limit hooks: a hit read ahead by them is answered
    // here, as stored, without the parsing, validation, handler and serialisation it would not need
    // (only a UUID is read ahead, which the params schema accepts).
    onRequest: (request, reply, done) => {
      const body = orders.readAheadAnswer(request, idOf(request));
      if (body === undefined) return done();
      // Typed for the OrderView object; the same order as its JSON is sent as it is.
      (reply as FastifyReply).type(JSON_BODY).send(body);
    },
    schema: { ...common, summary: 'One order (cached 10 minutes)', params: OrderIdParams, response: { 200: OrderView, ...problemResponses(401, 404, 429) } },
    handler: async (request) => orders.get(userId(request), request.params.id, request),
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
