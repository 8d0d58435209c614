import { DomainError } from '@platform/service-kit';

/**
 * What the account and token use cases refuse, in the domain's words. Nothing here knows HTTP:
 * the routes say what each becomes on the wire (routes/problems.ts).
 */
abstract class UserErrorBase extends DomainError {}

export class EmailTaken extends UserErrorBase {
  readonly kind = 'EmailTaken';
  constructor() {
    super('An account with this email exists.');
  }
}

/** An email user-service does not accept (accounts/email.ts); `reason` says what is wrong with it. */
export class InvalidEmail extends UserErrorBase {
  readonly kind = 'InvalidEmail';
  constructor(readonly reason: string) {
    super(`The email ${reason}.`);
  }
}

/** An unknown email or a wrong password: one error for both, so neither is told apart. */
export class InvalidCredentials extends UserErrorBase {
  readonly kind = 'InvalidCredentials';
  constructor() {
    super('The email or the password is not right.');
  }
}

/** Too many failed logins for the account: every login is refused until the window has passed. */
export class LoginLocked extends UserErrorBase {
  readonly kind = 'LoginLocked';
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many failed logins for this account; retry in ${retryAfterSeconds} s.`);
  }
}

/** The signed-in user's account is gone (its token was valid a moment ago). */
export class AccountGone extends UserErrorBase {
  readonly kind = 'AccountGone';
  constructor() {
    super('The account no longer exists.');
  }
}

/** The caller's If-Match names a version of the account that is no longer current. */
export class AccountChanged extends UserErrorBase {
  readonly kind = 'AccountChanged';
  constructor() {
    super('The account has changed since the version the request names.');
  }
}

/** Unknown, expired, spent or revoked: a refresh token that buys nothing. */
export class InvalidRefreshToken extends UserErrorBase {
  readonly kind = 'InvalidRefreshToken';
  constructor() {
    super('The refresh token is not valid.');
  }
}

export class InvalidCurrentPassword extends UserErrorBase {
  readonly kind = 'InvalidCurrentPassword';
  constructor() {
    super('The current password is not right.');
  }
}

export type UserError =
  | EmailTaken
  | AccountChanged
  | InvalidEmail
  | InvalidCredentials
  | LoginLocked
  | AccountGone
  | InvalidRefreshToken
  | InvalidCurrentPassword;

export const isUserError = (error: unknown): error is UserError => error instanceof UserErrorBase;
