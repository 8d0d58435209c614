import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER, idempotencySignal, parseIdempotencyKey, signedIn } from '@platform/request-pipeline';
import { problemHandler, problemResponses } from '@platform/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Answered, Caller } from '../payments/caller';
import type { Payments } from '../payments/payments';
import { CreatePaymentBody, CreateRefundBody, ListPaymentsQuery, PaymentIdParams, PaymentList, PaymentView, RefundView } from '../schemas';
import { paymentProblems } from './problems';

/** The caller of a route whose Idempotency-Key is required (the idempotency hook has checked it is there). */
function callerOf(request: FastifyRequest): Caller {
  const key = parseIdempotencyKey(request.headers[IDEMPOTENCY_KEY_HEADER]);
  if (key === undefined) throw new Error('idempotent route reached without a key');
  return { userId: signedIn(request).userId, key, requestId: request.id, held: idempotencySignal(request) };
}

function created<T>(reply: FastifyReply, answered: Answered<T>): FastifyReply {
  if (answered.replayed) reply.header(IDEMPOTENT_REPLAYED_HEADER, 'true');
  return reply.code(201).send(answered.value);
}

/** /v1/payments: the signed-in user's payments and refunds (CONTRACT.md, Payments). */
export const paymentRoutes: FastifyPluginAsyncTypebox<{ payments: Payments }> = async (app, { payments }) => {
  app.setErrorHandler(problemHandler(paymentProblems));
  const common = { tags: ['payments'], security: [{ bearerAuth: [] }] };
  const keyHeader = {
    headers: {
      type: 'object',
      properties: { [IDEMPOTENCY_KEY_HEADER]: { type: 'string', description: '1 to 255 visible ASCII characters; required.' } },
    },
  } as const;

  app.post('/v1/payments', {
    config: { idempotency: { required: true } },
    schema: {
      ...common,
      ...keyHeader,
      summary: 'Pay a PENDING order; requires Idempotency-Key',
      description: 'Charges the order’s amount once. 402 keeps the payment as FAILED (its id is in `paymentId`); 502 is not kept, so a retry with the same key runs again.',
      body: CreatePaymentBody,
      response: { 201: PaymentView, ...problemResponses(400, 401, 402, 404, 409, 422, 429, 502, 503) },
    },
    handler: async (request, reply) => {
      const answered = await payments.pay(request, callerOf(request), request.body);
      return created(reply.header('location', `/v1/payments/${answered.value.id}`), answered);
    },
  });

  app.get('/v1/payments', {
    schema: {
      ...common,
      summary: 'The signed-in user’s payments for an order, oldest first',
      querystring: ListPaymentsQuery,
      response: { 200: PaymentList, ...problemResponses(400, 401, 429) },
    },
    handler: async (request) => payments.list(signedIn(request).userId, request.query.orderId),
  });

  app.get('/v1/payments/:id', {
    schema: { ...common, summary: 'One payment', params: PaymentIdParams, response: { 200: PaymentView, ...problemResponses(401, 404, 429) } },
    handler: async (request) => payments.get(signedIn(request).userId, request.params.id),
  });

  app.post('/v1/payments/:id/refunds', {
    config: { idempotency: { required: true } },
    schema: {
      ...common,
      ...keyHeader,
      summary: 'Refund a payment in part or in full; requires Idempotency-Key',
      description: 'Without `amount`, all that is left of the payment is refunded.',
      params: PaymentIdParams,
      body: CreateRefundBody,
      response: { 201: RefundView, ...problemResponses(400, 401, 404, 409, 422, 429, 502, 503) },
    },
    // No body at all is the same as `{}`: refund all that is left.
    preValidation: async (request) => {
      request.body ??= {};
    },
    handler: async (request, reply) => {
      const answered = await payments.refund(callerOf(request), request.params.id, request.body.amount);
      return created(reply, answered);
    },
  });
};
