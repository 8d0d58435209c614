import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpProblem, problemHandler, problemResponses } from '@platform/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Answer, Sandbox } from '../sandbox';
import { ChargeIdParams, ChargeList, ChargeView, CreateChargeBody, CreateRefundBody, IdempotencyHeaders, ListChargesQuery, RefundView } from '../schemas';
import { ledgerProblems } from './problems';

/**
 * Runs before schema validation, so a request without a key is told so first. The
 * key's format is checked by the route's header schema.
 */
async function requireIdempotencyKey(request: FastifyRequest) {
  if (request.headers['idempotency-key'] === undefined) {
    throw new HttpProblem({ status: 400, code: 'IDEMPOTENCY_KEY_MISSING', detail: 'This request needs an Idempotency-Key header.' });
  }
}

function created<T>(reply: FastifyReply, answer: Answer<T>): T {
  if (answer.replayed) reply.header('idempotent-replayed', 'true');
  reply.code(201);
  return answer.value;
}

/** /v1/charges and /v1/refunds, the provider's API (apps/gateway-sandbox/README.md). No auth. */
export const providerRoutes: FastifyPluginAsyncTypebox<{ sandbox: Sandbox }> = async (app, { sandbox }) => {
  app.setErrorHandler(problemHandler(ledgerProblems));
  const keyOf = (request: FastifyRequest) => request.headers['idempotency-key'] as string;

  app.post('/v1/charges', {
    preValidation: requireIdempotencyKey,
    schema: {
      tags: ['charges'],
      summary: 'Charge a test card token; Idempotency-Key required',
      headers: IdempotencyHeaders,
      body: CreateChargeBody,
      response: { 201: ChargeView, ...problemResponses(400, 402, 422, 500, 502) },
    },
    handler: async (request, reply) => created(reply, await sandbox.charge(keyOf(request), request.body)),
  });

  app.post('/v1/charges/cancel', {
    preValidation: requireIdempotencyKey,
    schema: {
      tags: ['charges'],
      summary: 'Make the outcome of the charge with this Idempotency-Key final',
      description:
        'Answers what the charge with this key answered (waiting for one still running), or, when none ran, 409 CHARGE_CANCELLED: the key is then closed, and a charge sent with it later gets the same 409 and never runs.',
      headers: IdempotencyHeaders,
      response: { 201: ChargeView, ...problemResponses(400, 402, 409) },
    },
    handler: async (request, reply) => created(reply, await sandbox.cancelCharge(keyOf(request))),
  });

  app.get('/v1/charges', {
    schema: {
      tags: ['charges'],
      summary: 'The charges of an order, oldest first',
      querystring: ListChargesQuery,
      response: { 200: ChargeList, ...problemResponses(400) },
    },
    handler: async (request) => ({ data: sandbox.ledger.forOrder(request.query.orderId) }),
  });

  app.get('/v1/charges/:id', {
    schema: { tags: ['charges'], summary: 'One charge with its refunds', params: ChargeIdParams, response: { 200: ChargeView, ...problemResponses(404) } },
    handler: async (request) => sandbox.ledger.get(request.params.id),
  });

  app.post('/v1/refunds', {
    preValidation: requireIdempotencyKey,
    schema: {
      tags: ['refunds'],
      summary: 'Refund part or all of a charge; Idempotency-Key required',
      headers: IdempotencyHeaders,
      body: CreateRefundBody,
      response: { 201: RefundView, ...problemResponses(400, 404, 409, 422, 500) },
    },
    handler: async (request, reply) => created(reply, await sandbox.refund(keyOf(request), request.body)),
  });
};
