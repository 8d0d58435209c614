import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { OrderView } from '@platform/contracts';
import { readAheadOf, signedIn } from '@platform/request-pipeline';
import {
  entityTag,
  EVENT_STREAM_TYPE,
  expectedVersions,
  NOT_MODIFIED,
  openEventStream,
  problemHandler,
  problemResponses,
  sendTagged,
  UNAVAILABLE,
} from '@platform/service-kit';
import { Type } from '@sinclair/typebox';
import { writeEvents, type OrderFeed } from '../live/order-feed';
import type { Orders } from '../orders/orders';
import { CreateOrderBody, ListOrdersQuery, OrderIdParams, OrderPage } from '../schemas';
import { orderProblems } from './problems';

/** /v1/orders: the signed-in user's orders (CONTRACT.md, Orders). */
/** How long an EventSource waits before it reconnects after the stream ended. */
const RECONNECT_AFTER_MS = 1_000;

/** Last-Event-ID as a version; anything else (absent, not ours) is no resume point. */
function lastEventId(header: string | string[] | undefined): number | undefined {
  return typeof header === 'string' && /^\d{1,9}$/.test(header.trim()) ? Number(header.trim()) : undefined;
}

const EventStreamAnswer = Type.Unsafe<string>({
  description: 'Server-sent events: `retry`, then `event: order.status` with `id` the order’s version and `data` the order as JSON, one per status change; `: keep-alive` comments every 15 s. Ends after a final status (REFUNDED, CANCELLED), when the token expires or is revoked, or when the instance shuts down; reconnect with Last-Event-ID.',
  content: { [EVENT_STREAM_TYPE]: { schema: { type: 'string', example: 'event: order.status\nid: 2\ndata: {"id":"…","status":"PAID",…}\n\n' } } },
});

/** A request's `Cache-Control: no-store` (RFC 9111 5.2.1.5): its answer is not to be stored, here in the order cache either. */
function noStore(header: string | undefined): boolean {
  return header !== undefined && /(?:^|,)\s*no-store\s*(?:,|$)/i.test(header);
}

export const orderRoutes: FastifyPluginAsyncTypebox<{ orders: Orders; feed: OrderFeed }> = async (app, { orders, feed }) => {
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
      headerParameters: ['IfNoneMatch', 'CacheControlNoStore'],
      response: { 200: OrderView, 304: NOT_MODIFIED, ...problemResponses({ 404: ['NOT_FOUND'], 503: UNAVAILABLE }) },
      responseHeaders: { 200: ['ETag'], 304: ['ETag'] },
    },
    handler: async (request, reply) => {
      const order = await orders.get(userId(request), request.params.id, readAheadOf(request)?.[0], { store: !noStore(request.headers['cache-control']) });
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

  app.get('/v1/orders/:id/events', {
    schema: {
      tags,
      operationId: 'followOrder',
      summary: 'The order’s status, live: its current state, then each change (text/event-stream); resumes after Last-Event-ID',
      params: OrderIdParams,
      headerParameters: ['LastEventId'],
      response: {
        200: EventStreamAnswer,
        204: Type.Null({ description: 'Nothing more will come: the order is final and Last-Event-ID names its last version (an EventSource stops reconnecting).' }),
        ...problemResponses({ 404: ['NOT_FOUND'], 429: { codes: ['TOO_MANY_STREAMS'], headers: ['Retry-After'] }, 503: UNAVAILABLE }),
      },
      responseHeaders: { 200: ['Cache-Control'] },
    },
    handler: async (request, reply) => {
      const opening = await feed.open(signedIn(request), request.params.id, lastEventId(request.headers['last-event-id']));
      if (opening.kind === 'none') return reply.code(204).send(null);
      const stream = openEventStream(reply, { retryMs: RECONNECT_AFTER_MS });
      if (opening.kind === 'final') writeEvents(stream, opening.events);
      else opening.attach(stream);
      return reply;
    },
  });
};
