import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER, idempotencySignal, parseIdempotencyKey, signedIn } from '@platform/request-pipeline';
import { entityTag, NOT_MODIFIED, problemHandler, problemResponses, sendTagged, UNAVAILABLE } from '@platform/service-kit';
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
  const tags = ['payments'];
  const paymentId = { type: 'string', format: 'uuid', description: 'The payment, kept as FAILED.' };

  app.post('/v1/payments', {
    config: { idempotency: { required: true } },
    schema: {
      tags,
      operationId: 'createPayment',
      summary: 'Pay a PENDING order; requires Idempotency-Key',
      description: 'Charges the order’s amount once. 402 keeps the payment as FAILED (its id is in `paymentId`); 502 is not kept, so a retry with the same key runs again.',
      body: CreatePaymentBody,
      response: {
        201: PaymentView,
        ...problemResponses({
          400: ['VALIDATION_FAILED'],
          // The order-service answered 401 for the caller's token (revoked meanwhile).
          401: ['UNAUTHORIZED'],
          402: { codes: ['CARD_DECLINED', 'INSUFFICIENT_FUNDS'], extensions: { paymentId } },
          404: ['NOT_FOUND'],
          // Retry-After when another payment for the order is in progress.
          409: { codes: ['ORDER_NOT_PAYABLE', 'IDEMPOTENCY_REQUEST_IN_PROGRESS'], headers: ['Retry-After'] },
          422: ['IDEMPOTENCY_KEY_REUSED'],
          502: { codes: ['GATEWAY_ERROR'], extensions: { paymentId: { ...paymentId, description: 'The payment, when one was recorded.' } } },
          503: UNAVAILABLE,
        }),
      },
      responseHeaders: { 201: ['Location'] },
    },
    handler: async (request, reply) => {
      const answered = await payments.pay(request, callerOf(request), request.body);
      return created(reply.header('location', `/v1/payments/${answered.value.id}`), answered);
    },
  });

  app.get('/v1/payments', {
    schema: {
      tags,
      operationId: 'listPayments',
      summary: 'The signed-in user’s payments for an order, oldest first',
      querystring: ListPaymentsQuery,
      response: { 200: PaymentList, ...problemResponses({ 503: UNAVAILABLE }) },
    },
    handler: async (request) => payments.list(signedIn(request).userId, request.query.orderId),
  });

  app.get('/v1/payments/:id', {
    schema: {
      tags,
      operationId: 'getPayment',
      summary: 'One payment; 304 while If-None-Match names its ETag',
      params: PaymentIdParams,
      headerParameters: ['IfNoneMatch'],
      response: { 200: PaymentView, 304: NOT_MODIFIED, ...problemResponses({ 404: ['NOT_FOUND'], 503: UNAVAILABLE }) },
      responseHeaders: { 200: ['ETag'], 304: ['ETag'] },
    },
    handler: async (request, reply) => {
      const payment = await payments.get(signedIn(request).userId, request.params.id);
      return sendTagged(request, reply, entityTag(payment.id, payment.version), payment);
    },
  });

  app.post('/v1/payments/:id/refunds', {
    config: { idempotency: { required: true } },
    schema: {
      tags,
      operationId: 'refundPayment',
      summary: 'Refund a payment in part or in full; requires Idempotency-Key',
      description: 'Without `amount` (or without a body), all that is left of the payment is refunded.',
      optionalBody: true,
      params: PaymentIdParams,
      body: CreateRefundBody,
      response: {
        201: RefundView,
        ...problemResponses({
          404: ['NOT_FOUND'],
          409: {
            codes: ['PAYMENT_NOT_REFUNDABLE', 'REFUND_EXCEEDS_PAYMENT', 'IDEMPOTENCY_REQUEST_IN_PROGRESS'],
            headers: ['Retry-After'],
            extensions: { refundable: { type: 'integer', description: 'With REFUND_EXCEEDS_PAYMENT: what is left to refund, in minor units.' } },
          },
          422: ['IDEMPOTENCY_KEY_REUSED'],
          502: ['GATEWAY_ERROR'],
          503: UNAVAILABLE,
        }),
      },
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
