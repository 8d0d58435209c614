import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { signedIn } from '@platform/request-pipeline';
import { problemHandler, problemResponses } from '@platform/service-kit';
import { Type } from '@sinclair/typebox';
import type { AccountService } from '../accounts/account-service';
import { ChangePasswordBody, UpdateMeBody, UserView } from '../schemas';
import { userProblems } from './problems';

/** /v1/users/me: the signed-in user's own account. */
export const userRoutes: FastifyPluginAsyncTypebox<{ accounts: AccountService }> = async (app, { accounts }) => {
  app.setErrorHandler(problemHandler(userProblems));
  const common = { tags: ['users'], security: [{ bearerAuth: [] }] };
  const userId = (request: Parameters<typeof signedIn>[0]) => signedIn(request).userId;

  app.get('/v1/users/me', {
    schema: { ...common, summary: 'The signed-in user (cached 5 minutes)', response: { 200: UserView, ...problemResponses(401, 429) } },
    handler: async (request) => accounts.profile(userId(request)),
  });

  app.patch('/v1/users/me', {
    schema: { ...common, summary: 'Change the name', body: UpdateMeBody, response: { 200: UserView, ...problemResponses(400, 401, 429) } },
    handler: async (request) => accounts.rename(userId(request), request.body.name),
  });

  app.post('/v1/users/me/password', {
    schema: {
      ...common,
      summary: 'Change the password; every session of the user ends',
      body: ChangePasswordBody,
      response: { 204: Type.Null(), ...problemResponses(400, 401, 429, 503) },
    },
    handler: async (request, reply) => {
      await accounts.changePassword(userId(request), request.body.currentPassword, request.body.newPassword);
      return reply.code(204).send(null);
    },
  });
};
