import { badTokens, generateSigningKey, signAccessToken, staticKeys, TEST_AUDIENCE, TEST_ISSUER } from '../test';
import { createTokenVerifier, InvalidTokenError, VERIFIER_DEFAULTS } from './verifier';

const key = generateSigningKey('k1');
const stranger = generateSigningKey('k-stranger');
const verify = createTokenVerifier({ keys: staticKeys([key]), issuer: TEST_ISSUER, audience: TEST_AUDIENCE });

describe('access-token verifier', () => {
  it('when a token is as user-service issues it, then its user, session, id, expiry and exact issue time come back', async () => {
    const issuedAtMs = Date.now() - 1234;
    const userId = '0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b';
    const token = signAccessToken(key, { claims: { sub: userId, sid: 's-1', jti: 'j-1', iat_ms: issuedAtMs } });
    expect(await verify(token)).toEqual({
      userId,
      sessionId: 's-1',
      tokenId: 'j-1',
      issuedAtMs,
      expiresAt: Math.floor(issuedAtMs / 1000) + 900,
    });
  });

  it('when a valid token is verified twice, then the second time is answered from the cache, without the key', async () => {
    let lookups = 0;
    const counting = createTokenVerifier({
      keys: {
        key: (kid) => {
          lookups++;
          return staticKeys([key]).key(kid);
        },
      },
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
    });
    const token = signAccessToken(key);
    await counting(token);
    await counting(token);
    expect(lookups).toBe(1);
  });

  describe('the verified-token cache', () => {
    afterEach(() => jest.restoreAllMocks());

    function counted() {
      const seen = { lookups: 0 };
      const verifier = createTokenVerifier({
        keys: {
          key: (kid) => {
            seen.lookups++;
            return staticKeys([key]).key(kid);
          },
        },
        issuer: TEST_ISSUER,
        audience: TEST_AUDIENCE,
      });
      return { verifier, seen };
    }

    it('when a cached token expires, then it is refused as expired, not answered from the cache', async () => {
      const { verifier } = counted();
      const token = signAccessToken(key, { claims: { exp: Math.floor(Date.now() / 1000) + 2 } });
      await expect(verifier(token)).resolves.toMatchObject({ userId: expect.any(String) });
      const later = Date.now() + 2_000 + 5_000 + 1_000; // past exp and the clock tolerance
      jest.spyOn(Date, 'now').mockReturnValue(later);
      await expect(verifier(token)).rejects.toMatchObject({ reason: 'expired' });
    });

    it('when a cached verification is older than the cache TTL, then the token is verified again with its key', async () => {
      const { verifier, seen } = counted();
      const token = signAccessToken(key);
      await verifier(token);
      jest.spyOn(Date, 'now').mockReturnValue(Date.now() + VERIFIER_DEFAULTS.cacheTtlMs + 1);
      await verifier(token);
      expect(seen.lookups).toBe(2);
    });

    it('when a token differs from a cached one in one character of its signature, then it is checked in full and refused', async () => {
      const { verifier } = counted();
      const token = signAccessToken(key);
      await verifier(token);
      // Not the last character: its low bits are padding, and a change there decodes to the same signature.
      const at = token.length - 10;
      const forged = `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`;
      await expect(verifier(forged)).rejects.toMatchObject({ reason: 'signature' });
    });

    it('when the cache size is 0, then every verification looks the key up', async () => {
      const seen = { lookups: 0 };
      const verifier = createTokenVerifier({
        keys: { key: (kid) => (seen.lookups++, staticKeys([key]).key(kid)) },
        issuer: TEST_ISSUER,
        audience: TEST_AUDIENCE,
        cacheSize: 0,
      });
      const token = signAccessToken(key);
      await verifier(token);
      await verifier(token);
      expect(seen.lookups).toBe(2);
    });
  });

  it.each(badTokens(key, stranger).map((b) => [b.name, b] as const))('when the token is bad (%s), then InvalidTokenError says why', async (_name, bad) => {
    const error = await verify(bad.token).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect((error as InvalidTokenError).reason).toBe(bad.reason);
    // Never the token, not even in part.
    expect((error as Error).message).not.toContain(bad.token.slice(0, 20));
  });

  it('when a token was issued within the clock tolerance ahead, then it passes (another instance\'s clock may run ahead)', async () => {
    const token = signAccessToken(key, { claims: { iat_ms: Date.now() + VERIFIER_DEFAULTS.clockToleranceMs - 1_000 } });
    await expect(verify(token)).resolves.toMatchObject({ userId: expect.any(String) });
  });

  it('when iat does not match iat_ms, then the token is refused', async () => {
    const token = signAccessToken(key, { claims: { iat_ms: Date.now(), iat: Math.floor(Date.now() / 1000) - 60 } });
    await expect(verify(token)).rejects.toMatchObject({ reason: 'claims' });
  });

  it('when the key source cannot answer, then its error passes through, not InvalidTokenError', async () => {
    const down = new Error('jwks down');
    const failing = createTokenVerifier({ keys: { key: () => Promise.reject(down) }, issuer: TEST_ISSUER, audience: TEST_AUDIENCE });
    await expect(failing(signAccessToken(key))).rejects.toBe(down);
  });
});
