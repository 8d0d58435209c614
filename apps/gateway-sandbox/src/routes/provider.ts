import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpProblem, problemHandler, problemResponses, type RouteAnswers } from '@platform/service-kit';
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

/** The routes that take an Idempotency-Key. */
const KEYED = new Set(['/v1/charges', '/v1/charges/cancel', '/v1/refunds']);

/** What the key adds to their OpenAPI entries: it is required, and any kept answer (below 500) may be a replay. */
const KEYED_ANSWERS: RouteAnswers = {
  parameters: ['RequiredIdempotencyKey'],
  problems: { 400: ['IDEMPOTENCY_KEY_MISSING'] },
  headersOn: { headers: ['Idempotent-Replayed'], on: (status) => status < 500 && ![413, 415, 431].includes(status) },
};

const declined = {
  codes: ['CARD_DECLINED', 'INSUFFICIENT_FUNDS'],
  extensions: { charge: { type: 'object', description: 'The declined charge, as GET /v1/charges/{id} answers it.' } },
};

function created<T>(reply: FastifyReply, answer: Answer<T>): T {
  if (answer.replayed) reply.header('idempotent-replayed', 'true');
  reply.code(201);
  return answer.value;
}

/** /v1/charges and /v1/refunds, the provider's API (apps/gateway-sandbox/README.md). No auth. */
export const providerRoutes: FastifyPluginAsyncTypebox<{ sandbox: Sandbox }> = async (app, { sandbox }) => {
  app.setErrorHandler(problemHandler(ledgerProblems));
  const keyOf = (request: FastifyRequest) => request.headers['idempotency-key'] as string;
  app.openapi.describe((route) => (route.method === 'POST' && KEYED.has(route.url) ? KEYED_ANSWERS : undefined));

  app.post('/v1/charges', {
    preValidation: requireIdempotencyKey,
    schema: {
      tags: ['charges'],
      operationId: 'createCharge',
      summary: 'Charge a test card token; Idempotency-Key required',
      headers: IdempotencyHeaders,
      body: CreateChargeBody,
      response: {
        201: ChargeView,
        ...problemResponses({
          400: ['INVALID_TOKEN'],
          402: declined,
          409: ['CHARGE_CANCELLED'],
          422: ['IDEMPOTENCY_KEY_REUSED'],
          // GATEWAY_FAILURE_RATE's simulated failures.
          500: ['GATEWAY_ERROR'],
          502: ['GATEWAY_ERROR'],
        }),
      },
    },
    handler: async (request, reply) => created(reply, await sandbox.charge(keyOf(request), request.body)),
  });

  app.post('/v1/charges/cancel', {
    preValidation: requireIdempotencyKey,
    schema: {
      tags: ['charges'],
      operationId: 'cancelCharge',
      summary: 'Make the outcome of the charge with this Idempotency-Key final',
      description:
        'Answers what the charge with this key answered (waiting for one still running), or, when none ran, 409 CHARGE_CANCELLED: the key is then closed, and a charge sent with it later gets the same 409 and never runs.',
      headers: IdempotencyHeaders,
      // The charge's own answer when it ran, kept for the key.
      response: { 201: ChargeView, ...problemResponses({ 400: ['INVALID_TOKEN'], 402: declined, 409: ['CHARGE_CANCELLED'] }) },
    },
    handler: async (request, reply) => created(reply, await sandbox.cancelCharge(keyOf(request))),
  });

  app.get('/v1/charges', {
    schema: {
      tags: ['charges'],
      operationId: 'listCharges',
      summary: 'The charges of an order, oldest first',
      querystring: ListChargesQuery,
      response: { 200: ChargeList },
    },
    handler: async (request) => ({ data: sandbox.ledger.forOrder(request.query.orderId) }),
  });

  app.get('/v1/charges/:id', {
    schema: {
      tags: ['charges'],
      operationId: 'getCharge',
      summary: 'One charge with its refunds',
      params: ChargeIdParams,
      response: { 200: ChargeView, ...problemResponses({ 404: ['CHARGE_NOT_FOUND'] }) },
    },
    handler: async (request) => sandbox.ledger.get(request.params.id),
  });

  app.post('/v1/refunds', {
    preValidation: requireIdempotencyKey,
    schema: {
      tags: ['refunds'],
      operationId: 'createRefund',
      summary: 'Refund part or all of a charge; Idempotency-Key required',
      headers: IdempotencyHeaders,
      body: CreateRefundBody,
      response: {
        201: RefundView,
        ...problemResponses({
          404: ['CHARGE_NOT_FOUND'],
          409: {
            codes: ['CHARGE_NOT_REFUNDABLE', 'REFUND_EXCEEDS_CHARGE'],
            extensions: { refundable: { type: 'integer', description: 'With REFUND_EXCEEDS_CHARGE: what is left to refund.' } },
          },
          422: ['IDEMPOTENCY_KEY_REUSED'],
          500: ['GATEWAY_ERROR'],
        }),
      },
    },
    handler: async (request, reply) => created(reply, await sandbox.refund(keyOf(request), request.body)),
  });
};
