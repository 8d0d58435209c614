import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { signedIn } from '@platform/request-pipeline';
import { problemHandler, problemResponses, UNAVAILABLE } from '@platform/service-kit';
import { Type } from '@sinclair/typebox';
import type { AccountService } from '../accounts/account-service';
import { LoginBody, RefreshBody, RegisterBody, TokenPair, UserView } from '../schemas';
import type { TokenIssuer } from '../tokens/token-issuer';
import { userProblems } from './problems';

/** /v1/auth: sign up, sign in, rotate, sign out (CONTRACT.md, Authentication). */
export const authRoutes: FastifyPluginAsyncTypebox<{ accounts: AccountService; tokens: TokenIssuer }> = async (app, { accounts, tokens }) => {
  app.setErrorHandler(problemHandler(userProblems));
  const tags = ['auth'];

  app.post('/v1/auth/register', {
    config: { auth: false },
    schema: {
      tags,
      operationId: 'register',
      summary: 'Create an account',
      body: RegisterBody,
      response: { 201: UserView, ...problemResponses({ 409: ['EMAIL_TAKEN'], 503: UNAVAILABLE }) },
    },
    handler: async (request, reply) => reply.code(201).send(await accounts.register(request.body)),
  });

  app.post('/v1/auth/login', {
    // Limited per client IP by the `login` policy instead of the general one, failing closed.
    config: { auth: false, rateLimit: 'login' },
    schema: {
      tags,
      operationId: 'login',
      summary: 'Sign in',
      body: LoginBody,
      // 429 also when the account has met too many failed logins (LoginLocked).
      response: { 200: TokenPair, ...problemResponses({ 401: ['INVALID_CREDENTIALS'], 429: { codes: ['RATE_LIMITED'], headers: ['Retry-After'] }, 503: UNAVAILABLE }) },
    },
    handler: async (request) => accounts.login(request.body.email, request.body.password),
  });

  app.post('/v1/auth/refresh', {
    config: { auth: false },
    schema: {
      tags,
      operationId: 'refreshTokens',
      summary: 'Trade a refresh token for a new pair',
      body: RefreshBody,
      response: { 200: TokenPair, ...problemResponses({ 401: ['INVALID_REFRESH_TOKEN'], 503: UNAVAILABLE }) },
    },
    handler: async (request) => tokens.refresh(request.body.refreshToken),
  });

  app.post('/v1/auth/logout', {
    schema: { tags, operationId: 'logout', summary: 'End this session', response: { 204: Type.Null(), ...problemResponses({ 503: UNAVAILABLE }) } },
    handler: async (request, reply) => {
      const { userId, sessionId } = signedIn(request);
      await tokens.endSession(userId, sessionId);
      return reply.code(204).send(null);
    },
  });

  app.post('/v1/auth/logout-all', {
    schema: {
      tags,
      operationId: 'logoutAll',
      summary: 'End every session of the user',
      response: { 204: Type.Null(), ...problemResponses({ 503: UNAVAILABLE }) },
    },
    handler: async (request, reply) => {
      await tokens.endAllSessions(signedIn(request).userId, 'logout-all');
      return reply.code(204).send(null);
    },
  });
};
