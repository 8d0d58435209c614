import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { signedIn } from '@platform/request-pipeline';
import { entityTag, expectedVersions, NOT_MODIFIED, problemHandler, problemResponses, sendTagged, UNAVAILABLE } from '@platform/service-kit';
import { Type } from '@sinclair/typebox';
import type { AccountService } from '../accounts/account-service';
import { ChangePasswordBody, UpdateMeBody, UserView } from '../schemas';
import { userProblems } from './problems';

/** /v1/users/me: the signed-in user's own account. */
export const userRoutes: FastifyPluginAsyncTypebox<{ accounts: AccountService }> = async (app, { accounts }) => {
  app.setErrorHandler(problemHandler(userProblems));
  const tags = ['users'];
  // The account gone while its token still lives: 401 as for any refused token.
  const answers = problemResponses({ 401: ['UNAUTHORIZED'], 503: UNAVAILABLE });
  const userId = (request: Parameters<typeof signedIn>[0]) => signedIn(request).userId;

  app.get('/v1/users/me', {
    schema: {
      tags,
      operationId: 'getMe',
      summary: 'The signed-in user (cached 5 minutes); 304 while If-None-Match names its ETag',
      headerParameters: ['IfNoneMatch'],
      response: { 200: UserView, 304: NOT_MODIFIED, ...answers },
      responseHeaders: { 200: ['ETag'], 304: ['ETag'] },
    },
    handler: async (request, reply) => {
      const user = await accounts.profile(userId(request));
      return sendTagged(request, reply, entityTag(user.id, user.version), user);
    },
  });

  app.patch('/v1/users/me', {
    schema: {
      tags,
      operationId: 'updateMe',
      summary: 'Change the name; with If-Match, only the version it names',
      headerParameters: ['IfMatch'],
      body: UpdateMeBody,
      response: { 200: UserView, ...answers, ...problemResponses({ 412: ['PRECONDITION_FAILED'] }) },
      responseHeaders: { 200: ['ETag'] },
    },
    handler: async (request, reply) => {
      const id = userId(request);
      const user = await accounts.rename(id, request.body.name, expectedVersions(request, id));
      return reply.header('etag', entityTag(user.id, user.version)).send(user);
    },
  });

  app.post('/v1/users/me/password', {
    schema: {
      tags,
      operationId: 'changePassword',
      summary: 'Change the password; every session of the user ends',
      body: ChangePasswordBody,
      response: { 204: Type.Null(), ...answers, ...problemResponses({ 400: ['INVALID_CURRENT_PASSWORD'] }) },
    },
    handler: async (request, reply) => {
      await accounts.changePassword(userId(request), request.body.currentPassword, request.body.newPassword);
      return reply.code(204).send(null);
    },
  });
};
