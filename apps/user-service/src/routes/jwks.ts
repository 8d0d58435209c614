import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { problemResponses, UNAVAILABLE } from '@platform/service-kit';
import { Jwks } from '../schemas';

/** The public keys access tokens are signed with, for every service that verifies them. */
export const jwksRoute: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/.well-known/jwks.json', {
    schema: {
      tags: ['auth'],
      operationId: 'getJwks',
      summary: 'JSON Web Key Set of the token signing keys',
      response: { 200: Jwks, ...problemResponses({ 503: UNAVAILABLE }) },
      responseHeaders: { 200: ['Cache-Control'] },
    },
    handler: async (_request, reply) => {
      const ring = await app.signingKeys();
      // Verifiers cache it and refetch on an unknown kid, so a short max-age is enough.
      return reply.header('cache-control', 'public, max-age=300').send(ring.jwks);
    },
  });
};
