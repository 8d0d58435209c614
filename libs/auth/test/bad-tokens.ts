import { createHmac, sign as edSign } from 'node:crypto';
import type { InvalidTokenReason } from '../src/verifier';
import { accessTokenClaims, encodeToken, signAccessToken, type TestSigningKey } from './tokens';

export interface BadToken {
  name: string;
  token: string;
  reason: InvalidTokenReason;
}

/**
 * One token per way a token can be wrong, each otherwise valid: `key` is published in
 * the JWKS, `stranger` is not.
 */
export function badTokens(key: TestSigningKey, stranger: TestSigningKey): BadToken[] {
  const header = { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid };
  const good = signAccessToken(key);
  const [goodHeader, , goodSignature] = good.split('.');
  const tampered = `${goodHeader}.${Buffer.from(JSON.stringify(accessTokenClaims({ claims: { sub: 'someone-else' } }))).toString('base64url')}.${goodSignature}`;
  const publicBytes = key.publicKey.export({ type: 'spki', format: 'pem' });
  const nowS = Math.floor(Date.now() / 1000);
  return [
    { name: 'not a JWT at all', token: 'not-a-jwt', reason: 'malformed' },
    { name: 'alg none, no signature', token: encodeToken({ ...header, alg: 'none' }, accessTokenClaims()), reason: 'algorithm' },
    {
      name: 'HS256 signed with the public key bytes as the secret',
      token: encodeToken({ ...header, alg: 'HS256' }, accessTokenClaims(), (input) => createHmac('sha256', publicBytes).update(input).digest()),
      reason: 'algorithm',
    },
    { name: 'payload re-encoded under the original signature', token: tampered, reason: 'signature' },
    { name: 'signed by another key under a published kid', token: signAccessToken(stranger, { header: { kid: key.kid } }), reason: 'signature' },
    { name: 'signed by a key nobody published', token: signAccessToken(stranger), reason: 'unknown key' },
    { name: 'a wrong iss', token: signAccessToken(key, { claims: { iss: 'someone-else' } }), reason: 'issuer' },
    { name: 'a wrong aud', token: signAccessToken(key, { claims: { aud: 'another-platform' } }), reason: 'audience' },
    { name: 'exp an hour ago', token: signAccessToken(key, { claims: { iat_ms: (nowS - 7200) * 1000, exp: nowS - 3600 } }), reason: 'expired' },
    { name: 'typ JWT instead of at+jwt', token: signAccessToken(key, { header: { typ: 'JWT' } }), reason: 'typ' },
    { name: 'no typ', token: encodeToken({ alg: 'EdDSA', kid: key.kid }, accessTokenClaims(), (input) => edSign(null, Buffer.from(input), key.privateKey)), reason: 'typ' },
    { name: 'no sid', token: signAccessToken(key, { omit: ['sid'] }), reason: 'claims' },
    { name: 'no iat_ms', token: signAccessToken(key, { omit: ['iat_ms'] }), reason: 'claims' },
    { name: 'iat_ms not an integer', token: signAccessToken(key, { claims: { iat_ms: Date.now() + 0.5 } }), reason: 'claims' },
    { name: 'sub not a string', token: signAccessToken(key, { claims: { sub: 42 as unknown as string } }), reason: 'claims' },
    { name: 'sub not a user id', token: signAccessToken(key, { claims: { sub: 'admin' } }), reason: 'claims' },
    // Validly signed, issued an hour from now: it would outlive a logout-all cutoff set today.
    {
      name: 'issued an hour in the future',
      token: signAccessToken(key, { claims: { iat_ms: (nowS + 3600) * 1000, exp: nowS + 3600 + 900 } }),
      reason: 'not yet valid',
    },
  ];
}
