import { Type, type Static } from '@sinclair/typebox';

/**
 * Wire shapes of user-service (CONTRACT.md, Authentication). Emails may arrive with
 * surrounding spaces, in any case and in any Unicode spelling: the schema checks their
 * shape as sent, accounts/email.ts normalises them and checks the rest.
 */
const Email = Type.String({
  maxLength: 320,
  pattern: '^\\s*[^\\s@]{1,64}@[^\\s@]+\\.[^\\s@]+\\s*$',
  description:
    'Trimmed, NFKC-normalised and lower-cased before it is stored or compared; control, zero-width and bidirectional-format characters are refused; at most 254 characters once normalised.',
  examples: ['ada@example.com'],
  'x-error-message': 'must be an email address (local-part@domain, no spaces, at most 254 characters)',
});
const Password = Type.String({ minLength: 8, maxLength: 128, description: '8 to 128 characters.' });
// At least one character that is not white space.
const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S', examples: ['Ada Lovelace'] });

export const RegisterBody = Type.Object({ email: Email, password: Password, name: Name }, { additionalProperties: false });
export const LoginBody = Type.Object({ email: Email, password: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });
export const RefreshBody = Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 2048 }) }, { additionalProperties: false });
export const UpdateMeBody = Type.Object({ name: Name }, { additionalProperties: false });
export const ChangePasswordBody = Type.Object(
  { currentPassword: Type.String({ minLength: 1, maxLength: 128 }), newPassword: Password },
  { additionalProperties: false },
);

export const UserView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    email: Type.String(),
    name: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type UserView = Static<typeof UserView>;

export const TokenPair = Type.Object(
  {
    accessToken: Type.String(),
    refreshToken: Type.String(),
    tokenType: Type.Literal('Bearer'),
    expiresIn: Type.Integer({ description: 'Seconds until the access token expires.' }),
  },
  { additionalProperties: false },
);
export type TokenPair = Static<typeof TokenPair>;

export const Jwks = Type.Object({
  keys: Type.Array(
    Type.Object({ kty: Type.String(), crv: Type.String(), x: Type.String(), kid: Type.String(), alg: Type.String(), use: Type.String() }),
  ),
});
