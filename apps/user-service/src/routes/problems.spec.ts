import { AccountChanged, AccountGone, EmailTaken, InvalidCredentials, InvalidEmail, InvalidCurrentPassword, InvalidRefreshToken, LoginLocked } from '../errors';
import { userProblems } from './problems';

/** Each domain error, and the answer the contract (and the README) promise for it. */
describe("user-service's errors on the wire", () => {
  it.each([
    [new EmailTaken(), { status: 409, code: 'EMAIL_TAKEN', detail: 'An account with this email exists.' }],
    [new AccountChanged(), { status: 412, code: 'PRECONDITION_FAILED', detail: 'The account has changed since the version the request names.' }],
    [
      new InvalidEmail('must not contain U+200B (a zero-width or other invisible character)'),
      {
        status: 400,
        code: 'VALIDATION_FAILED',
        detail: 'The request is not valid.',
        errors: [{ path: 'body/email', message: 'must not contain U+200B (a zero-width or other invisible character)' }],
      },
    ],
    [new InvalidCredentials(), { status: 401, code: 'INVALID_CREDENTIALS', detail: 'The email or the password is not right.' }],
    [
      new LoginLocked(840),
      { status: 429, code: 'RATE_LIMITED', detail: 'Too many failed logins for this account; retry in 840 s.', headers: { 'retry-after': '840' } },
    ],
    [new AccountGone(), { status: 401, code: 'UNAUTHORIZED', detail: 'The account no longer exists.' }],
    [new InvalidRefreshToken(), { status: 401, code: 'INVALID_REFRESH_TOKEN', detail: 'The refresh token is not valid.' }],
    [new InvalidCurrentPassword(), { status: 400, code: 'INVALID_CURRENT_PASSWORD', detail: 'The current password is not right.' }],
  ])('when the use case throws %s, then the answer is as promised', (error, answer) => {
    expect(userProblems(error)).toEqual(answer);
  });

  it('when the error is not one of the service, then the table leaves it to the kit', () => {
    expect(userProblems(new Error('bug'))).toBeUndefined();
  });
});
