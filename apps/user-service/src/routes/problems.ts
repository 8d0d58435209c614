import { problemMapping } from '@platform/service-kit';
import { isUserError } from '../errors';

/**
 * user-service's errors on the wire (CONTRACT.md, Authentication), applied by routes/auth.ts and
 * routes/users.ts. The detail is the error's own sentence.
 */
export const userProblems = problemMapping(isUserError, {
  // Refused by the email rule, after the schema: answered as the schema's own refusals are.
  InvalidEmail: (e) => ({ status: 400, code: 'VALIDATION_FAILED', detail: 'The request is not valid.', errors: [{ path: 'body/email', message: e.reason }] }),
  EmailTaken: (e) => ({ status: 409, code: 'EMAIL_TAKEN', detail: e.message }),
  InvalidCredentials: (e) => ({ status: 401, code: 'INVALID_CREDENTIALS', detail: e.message }),
  LoginLocked: (e) => ({ status: 429, code: 'RATE_LIMITED', detail: e.message, headers: { 'retry-after': String(e.retryAfterSeconds) } }),
  AccountGone: (e) => ({ status: 401, code: 'UNAUTHORIZED', detail: e.message }),
  AccountChanged: (e) => ({ status: 412, code: 'PRECONDITION_FAILED', detail: e.message }),
  InvalidRefreshToken: (e) => ({ status: 401, code: 'INVALID_REFRESH_TOKEN', detail: e.message }),
  InvalidCurrentPassword: (e) => ({ status: 400, code: 'INVALID_CURRENT_PASSWORD', detail: e.message }),
});
