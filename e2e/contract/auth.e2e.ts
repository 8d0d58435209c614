import { randomUUID } from 'node:crypto';
import { Client, type Answer } from '../src/client';
import { topologyFromEnv, type ServiceName } from '../src/platform';
import { badTokens, parts, reSigned, type BadToken } from '../src/tokens';
import { expectProblem } from '../src/expect';

/**
 * CONTRACT.md, Authentication: every row of the table over HTTP, as an outside client sees it,
 * with revocation checked on every instance of all three services at once.
 */
const topology = topologyFromEnv();
const local = topology.local ? it : it.skip;
const USER_FIELDS = ['createdAt', 'email', 'id', 'name'];
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const PASSWORD = 'correct horse battery staple';

/** One client per test: its own address, so the per-IP login limit never trips across tests. */
const fresh = () => new Client(topology);
const newEmail = () => `e2e-${randomUUID()}@example.test`;


const paths = (res: Answer): string[] => (res.body?.errors ?? []).map((e: { path: string }) => e.path);

const register = (client: Client, body: Record<string, unknown>) => client.request('user', 'POST', '/v1/auth/register', { body });
const loginRaw = (client: Client, email: string, password: string) => client.answer(client.api().user.POST('/v1/auth/login', { body: { email, password } }));
const refresh = (client: Client, refreshToken: string) => client.answer(client.api().user.POST('/v1/auth/refresh', { body: { refreshToken } }));

/** A signed-in read on each service: what a token can do anywhere. */
const READS: Record<ServiceName, () => string> = {
  user: () => '/v1/users/me',
  order: () => '/v1/orders',
  payment: () => `/v1/payments?orderId=${randomUUID()}`,
};

/** The same token on every instance of all three services at once; answers labelled `user#1 200`. */
async function onEveryInstance(client: Client, token: string): Promise<{ label: string; res: Answer }[]> {
  const services = Object.keys(READS) as ServiceName[];
  const answers = await Promise.all(services.map((s) => client.everywhere(s, 'GET', READS[s](), { token })));
  return services.flatMap((s, i) => (answers[i] as Answer[]).map((res, n) => ({ label: `${s}#${n + 1}`, res })));
}

const labelled = (answers: { label: string; res: Answer }[]) => answers.map((a) => `${a.label} ${a.res.status}`);
const all = (answers: { label: string }[], status: number) => answers.map((a) => `${a.label} ${status}`);

/** Accepted on every instance of every service. */
async function expectAccepted(client: Client, token: string): Promise<void> {
  const answers = await onEveryInstance(client, token);
  expect(labelled(answers)).toEqual(all(answers, 200));
}

/** Refused with 401 and a Bearer challenge on every instance of every service. */
async function expectRefused(client: Client, token: string): Promise<void> {
  const answers = await onEveryInstance(client, token);
  expect(labelled(answers)).toEqual(all(answers, 401));
  for (const { res } of answers) {
    expectProblem(res, 401, 'UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
  }
}

describe('POST /v1/auth/register', () => {
  it('when the input is valid, then 201 with exactly id, email (trimmed, lower-cased), name and createdAt', async () => {
    const mailbox = `Ada.${randomUUID()}`;
    const res = await register(fresh(), { email: `  ${mailbox}@Example.TEST `, password: PASSWORD, name: 'Ada Lovelace' });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(res.body).sort()).toEqual(USER_FIELDS);
    expect(res.body).toMatchObject({ email: `${mailbox.toLowerCase()}@example.test`, name: 'Ada Lovelace' });
    expect(res.body.id).toMatch(UUID_V7);
    expect(new Date(res.body.createdAt).toISOString()).toBe(res.body.createdAt);
    expect(res.text).not.toMatch(/password|argon2/i);
  });

  it('when the email has 254 characters, some outside the BMP (UTF-16 surrogate pairs), then 201: the limit counts characters, as for name and password', async () => {
    const email = `${'😀'.repeat(20)}${randomUUID().slice(0, 8)}@${'b'.repeat(221)}.com`;
    expect([...email]).toHaveLength(254);
    const res = await register(fresh(), { email, password: PASSWORD, name: 'Ada' });
    expect([res.status, res.body?.email]).toEqual([201, email]);
  });

  it('when every field is at its inclusive limit (email 254, password 8 and 128, name 1 and 100), then 201', async () => {
    const client = fresh();
    const email254 = `${randomUUID().replace(/-/g, '')}${'a'.repeat(32)}@${'b'.repeat(185)}.com`;
    expect(email254).toHaveLength(254);
    const answers = await Promise.all([
      register(client, { email: email254, password: PASSWORD, name: 'A' }),
      register(client, { email: newEmail(), password: 'p'.repeat(8), name: 'n'.repeat(100) }),
      register(client, { email: newEmail(), password: 'p'.repeat(128), name: `${'é'.repeat(99)}😀` }),
      // Characters, not UTF-16 units or bytes: 128 emoji are 256 units and 512 bytes.
      register(client, { email: newEmail(), password: '😀'.repeat(128), name: 'B' }),
    ]);
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201]);
    expect(answers.map((a) => a.body.name)).toEqual(['A', 'n'.repeat(100), `${'é'.repeat(99)}😀`, 'B']);
  });

  it.each([
    ['an email of 255 characters', { email: `${'a'.repeat(64)}@${'b'.repeat(186)}.com` }, 'body/email'],
    ['an email of 255 characters once trimmed and lower-cased', { email: `  ${'A'.repeat(64)}@${'b'.repeat(186)}.com  ` }, 'body/email'],
    ['a password of 7 characters', { password: 'p'.repeat(7) }, 'body/password'],
    ['a password of 129 characters', { password: 'p'.repeat(129) }, 'body/password'],
    ['a password of 7 emoji (14 UTF-16 units)', { password: '😀'.repeat(7) }, 'body/password'],
    ['an empty name', { name: '' }, 'body/name'],
    ['a name of 101 characters', { name: 'n'.repeat(101) }, 'body/name'],
    ['no password', { password: undefined }, 'body/password'],
    ['an undeclared property', { role: 'admin' }, 'body/role'],
  ])('when it has %s, then 400 VALIDATION_FAILED naming the field, and no account is made', async (_case, change, path) => {
    const client = fresh();
    const body = { email: newEmail(), password: PASSWORD, name: 'Ada', ...change };
    const res = await register(client, body);
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(paths(res)).toContain(path);
    for (const e of res.body.errors) expect(e).toEqual({ path: expect.any(String), message: expect.any(String) });
    // Nothing was kept: the same email registers cleanly once the input is right.
    if (path !== 'body/email') expect((await register(client, { email: body.email, password: PASSWORD, name: 'Ada' })).status).toBe(201);
  });

  it.each([
    ['exactly the same', (e: string) => e],
    ['in upper case', (e: string) => e.toUpperCase()],
    ['with surrounding white space and mixed case', (e: string) => `\t ${e.replace(/^e2e/, 'E2E')}  `],
  ])('when the email is taken, %s, then 409 EMAIL_TAKEN', async (_case, variant) => {
    const client = fresh();
    const email = newEmail();
    expect((await register(client, { email, password: PASSWORD, name: 'First' })).status).toBe(201);
    expectProblem(await register(client, { email: variant(email), password: 'another password', name: 'Second' }), 409, 'EMAIL_TAKEN');
  });

  it('when one email is registered several times at once over the instances, then exactly one is 201 and the others 409 EMAIL_TAKEN', async () => {
    const client = fresh();
    const email = newEmail();
    const answers = await Promise.all([1, 2, 3, 4].map((n) => register(client, { email, password: PASSWORD, name: `Racer ${n}` })));
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409]);
    for (const res of answers.filter((a) => a.status === 409)) expectProblem(res, 409, 'EMAIL_TAKEN');
  });
});

describe('Email [r2]: one address, whatever its spelling', () => {
  /** ASCII as its fullwidth forms (U+FF01..U+FF5E), which NFKC maps back. */
  const fullwidth = (text: string) => text.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
  /** One address in the spellings a person reads as the same, and one that differs by an accent. */
  function spellings() {
    const tail = randomUUID();
    return {
      nfc: `jos\u00e9-${tail}@example.test`,
      nfd: `jose\u0301-${tail}@example.test`,
      upperNfd: `JOSE\u0301-${tail.toUpperCase()}@Example.TEST`,
      fullwidth: `${fullwidth('jos')}\u00e9${fullwidth(`-${tail}`)}@example.test`,
      accentless: `jose-${tail}@example.test`,
    };
  }

  it('when an address is registered in NFD and upper case, then 201 with its NFC lower-case spelling', async () => {
    const s = spellings();
    const res = await register(fresh(), { email: s.upperNfd, password: PASSWORD, name: 'José' });
    expect([res.status, res.body?.email]).toEqual([201, s.nfc]);
  });

  it.each(['nfd', 'upperNfd', 'fullwidth'] as const)('when the address is taken in NFC and registered again spelled %s, then 409 EMAIL_TAKEN', async (how) => {
    const client = fresh();
    const s = spellings();
    expect((await register(client, { email: s.nfc, password: PASSWORD, name: 'First' })).status).toBe(201);
    expectProblem(await register(client, { email: s[how], password: 'another password', name: 'Second' }), 409, 'EMAIL_TAKEN');
  });

  it('when registered in fullwidth letters, then login in NFC, NFD and upper case signs in to that one account', async () => {
    const client = fresh();
    const s = spellings();
    const user = await register(client, { email: s.fullwidth, password: PASSWORD, name: 'José' });
    expect(user.status).toBe(201);
    for (const email of [s.nfc, s.nfd, s.upperNfd]) {
      const res = await loginRaw(client, email, PASSWORD);
      expect([email, res.status, parts(res.body.accessToken).claims['sub']]).toEqual([email, 200, user.body.id]);
    }
  });

  it('when two addresses differ by an accent, then they are two accounts', async () => {
    const client = fresh();
    const s = spellings();
    const accented = await register(client, { email: s.nfc, password: PASSWORD, name: 'José' });
    const plain = await register(client, { email: s.accentless, password: PASSWORD, name: 'Jose' });
    expect([accented.status, plain.status]).toEqual([201, 201]);
    expect(parts((await loginRaw(client, s.accentless, PASSWORD)).body.accessToken).claims['sub']).toBe(plain.body.id);
  });

  it.each([
    ['a zero-width space', '\u200b', 'must not contain U+200B (a zero-width or other invisible character)'],
    ['a right-to-left override', '\u202e', 'must not contain U+202E (a bidirectional-format character)'],
    ['a control character', '\u0007', 'must not contain U+0007 (a control character)'],
  ])('when the address has %s inside, then register and login are 400 VALIDATION_FAILED at body/email, and no account is made', async (_what, ch, message) => {
    const client = fresh();
    const s = spellings();
    const hidden = s.nfc.replace('-', `-${ch}`);
    for (const res of [await register(client, { email: hidden, password: PASSWORD, name: 'Eve' }), await loginRaw(client, hidden, PASSWORD)]) {
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(res.body.errors).toEqual([{ path: 'body/email', message }]);
    }
    expect((await register(client, { email: s.nfc, password: PASSWORD, name: 'José' })).status).toBe(201);
  });
});

describe('POST /v1/auth/login', () => {
  it('when the password is right, then 200 with exactly an asymmetric access token with the contract claims, an opaque refresh token, Bearer and expiresIn', async () => {
    const client = fresh();
    const email = newEmail();
    const user = (await register(client, { email, password: PASSWORD, name: 'Ada' })).body;
    const res = await loginRaw(client, ` ${email.toUpperCase()} `, PASSWORD);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accessToken: expect.any(String), refreshToken: expect.any(String), tokenType: 'Bearer', expiresIn: 900 });
    const { header, claims } = parts(res.body.accessToken);
    expect(['EdDSA', 'ES256']).toContain(header['alg']);
    expect(header['kid']).toEqual(expect.any(String));
    expect(claims).toMatchObject({ sub: user.id, sid: expect.any(String), jti: expect.any(String), iss: expect.any(String), aud: expect.anything() });
    expect((claims['exp'] as number) - (claims['iat'] as number)).toBe(900);
    expect(res.body.refreshToken).not.toBe(res.body.accessToken);
    expect(res.body.refreshToken.length).toBeGreaterThanOrEqual(32);
    await expectAccepted(client, res.body.accessToken);
  });

  it('when the password is wrong or the email unknown, then the same 401 INVALID_CREDENTIALS, word for word', async () => {
    const client = fresh();
    const email = newEmail();
    expect((await register(client, { email, password: PASSWORD, name: 'Ada' })).status).toBe(201);
    const wrong = await loginRaw(client, email, 'not the password');
    const unknown = await loginRaw(client, newEmail(), PASSWORD);
    expectProblem(wrong, 401, 'INVALID_CREDENTIALS');
    expectProblem(unknown, 401, 'INVALID_CREDENTIALS');
    const withoutId = (body: Record<string, unknown>) => ({ ...body, requestId: undefined });
    expect(withoutId(wrong.body)).toEqual(withoutId(unknown.body));
    expect(wrong.headers.get('www-authenticate')).toBe(unknown.headers.get('www-authenticate'));
  });
});

describe('POST /v1/auth/refresh', () => {
  it('when a refresh token is used, then 200 with a new pair of the same session, and the new access token works everywhere', async () => {
    const client = fresh();
    const user = await client.signUp();
    const res = await refresh(client, user.refreshToken);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accessToken: expect.any(String), refreshToken: expect.any(String), tokenType: 'Bearer', expiresIn: 900 });
    expect(res.body.refreshToken).not.toBe(user.refreshToken);
    expect(res.body.accessToken).not.toBe(user.accessToken);
    expect(parts(res.body.accessToken).claims).toMatchObject({ sub: user.id, sid: parts(user.accessToken).claims['sid'] });
    await expectAccepted(client, res.body.accessToken);
  });

  it('when a spent refresh token is presented again, then 401 and its whole family is revoked: the newer refresh and access tokens too, other sessions not', async () => {
    const client = fresh();
    const user = await client.signUp();
    const other = await client.login(user.email, user.password);
    const rotated = await refresh(client, user.refreshToken);
    expect(rotated.status).toBe(200);

    expectProblem(await refresh(client, user.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
    expectProblem(await refresh(client, rotated.body.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
    await expectRefused(client, rotated.body.accessToken);
    await expectAccepted(client, other.accessToken);
    expect((await refresh(client, other.refreshToken)).status).toBe(200);
  });

  it('when one refresh token is presented several times at once over the instances, then exactly one gets a pair: it is spent once', async () => {
    const client = fresh();
    const user = await client.signUp();
    const answers = await Promise.all([1, 2, 3, 4].map(() => refresh(client, user.refreshToken)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 401, 401, 401]);
    for (const res of answers.filter((a) => a.status === 401)) expectProblem(res, 401, 'INVALID_REFRESH_TOKEN');
  });

  it('when the refresh token is unknown, or an access token is sent in its place, then 401', async () => {
    const client = fresh();
    const user = await client.signUp();
    expectProblem(await refresh(client, 'A'.repeat(43)), 401, 'INVALID_REFRESH_TOKEN');
    expectProblem(await refresh(client, user.accessToken), 401, 'INVALID_REFRESH_TOKEN');
    // And a refresh token is no access token.
    await expectRefused(client, user.refreshToken);
  });
});

describe('POST /v1/auth/logout', () => {
  it('when a session logs out, then 204 and at once its access token is 401 on every instance of every service, its refresh token is 401, and other sessions go on', async () => {
    const client = fresh();
    const user = await client.signUp();
    const other = await client.login(user.email, user.password);
    // Every instance has verified (and may have cached) the token before the logout.
    await expectAccepted(client, user.accessToken);

    const res = await client.answer(client.api(user.accessToken).user.POST('/v1/auth/logout'));
    expect([res.status, res.text]).toEqual([204, '']);
    await expectRefused(client, user.accessToken);

    expectProblem(await refresh(client, user.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
    await expectAccepted(client, other.accessToken);
  });

  it('when it is called without a token, then 401 with a Bearer challenge', async () => {
    for (const url of ['/v1/auth/logout', '/v1/auth/logout-all']) {
      const res = await fresh().request('user', 'POST', url);
      expectProblem(res, 401, 'UNAUTHORIZED');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
  });
});

describe('POST /v1/auth/logout-all', () => {
  it('when a user logs out everywhere, then 204, every token issued until then is 401 on every instance, and a login right after works', async () => {
    const client = fresh();
    const user = await client.signUp();
    const other = await client.login(user.email, user.password);
    await expectAccepted(client, other.accessToken);

    const res = await client.answer(client.api(user.accessToken).user.POST('/v1/auth/logout-all'));
    expect([res.status, res.text]).toEqual([204, '']);
    await Promise.all([expectRefused(client, user.accessToken), expectRefused(client, other.accessToken)]);
    for (const refreshToken of [user.refreshToken, other.refreshToken]) expectProblem(await refresh(client, refreshToken), 401, 'INVALID_REFRESH_TOKEN');

    const after = await client.login(user.email, user.password);
    await expectAccepted(client, after.accessToken);
  });
});

describe('POST /v1/users/me/password', () => {
  const change = (client: Client, token: string, body: Record<string, unknown>) => client.request('user', 'POST', '/v1/users/me/password', { token, body });

  it('when the current password is wrong, then 400 INVALID_CURRENT_PASSWORD and nothing changes', async () => {
    const client = fresh();
    const user = await client.signUp();
    expectProblem(await change(client, user.accessToken, { currentPassword: 'not the password', newPassword: 'a brand new secret' }), 400, 'INVALID_CURRENT_PASSWORD');
    await expectAccepted(client, user.accessToken);
    expect((await loginRaw(client, user.email, user.password)).status).toBe(200);
  });

  it('when the new password is too short or too long, then 400 VALIDATION_FAILED naming it', async () => {
    const client = fresh();
    const user = await client.signUp();
    for (const newPassword of ['p'.repeat(7), 'p'.repeat(129)]) {
      const res = await change(client, user.accessToken, { currentPassword: user.password, newPassword });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(paths(res)).toContain('body/newPassword');
    }
  });

  it('when it is called without a token, then 401', async () => {
    expectProblem(await change(fresh(), '', { currentPassword: PASSWORD, newPassword: 'a brand new secret' }), 401, 'UNAUTHORIZED');
  });

  it('when it changes, then 204, every earlier token of the user is 401 everywhere, the old password is refused and the new one signs in', async () => {
    const client = fresh();
    const user = await client.signUp();
    const other = await client.login(user.email, user.password);

    const res = await change(client, user.accessToken, { currentPassword: user.password, newPassword: 'a brand new secret' });
    expect([res.status, res.text]).toEqual([204, '']);
    await Promise.all([expectRefused(client, user.accessToken), expectRefused(client, other.accessToken)]);
    for (const refreshToken of [user.refreshToken, other.refreshToken]) expectProblem(await refresh(client, refreshToken), 401, 'INVALID_REFRESH_TOKEN');

    expectProblem(await loginRaw(client, user.email, user.password), 401, 'INVALID_CREDENTIALS');
    const fresher = await client.login(user.email, 'a brand new secret');
    await expectAccepted(client, fresher.accessToken);
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('when asked on any instance, then 200 with the public key of the kid that real tokens carry, and no private part', async () => {
    const client = fresh();
    const { accessToken } = await client.signUp();
    const kid = parts(accessToken).header['kid'];
    for (const res of await client.onEvery('user', undefined, (api) => api.user.GET('/.well-known/jwks.json'))) {
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const keys = res.body.keys as Record<string, unknown>[];
      expect(keys.map((k) => k['kid'])).toContain(kid);
      for (const key of keys) {
        expect(['OKP', 'EC']).toContain(key['kty']);
        for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key[secret]).toBeUndefined();
      }
    }
  });
});

describe('forged and unfit access tokens', () => {
  let client: Client;
  let real: string;
  let bad: Record<BadToken, string | undefined>;
  beforeAll(async () => {
    client = fresh();
    real = (await client.signUp()).accessToken;
    bad = await badTokens(topology, real);
  });

  it('when the genuine token is sent, then every instance of every service accepts it (the forgeries below differ from it in one thing only)', async () => {
    await expectAccepted(client, real);
  });

  local('when the genuine claims are signed again with the platform key, then they are accepted everywhere (needs the local platform)', async () => {
    await expectAccepted(client, reSigned(topology, real) as string);
  });

  const kinds: [BadToken, string][] = [
    ['algNone', 'says alg none and has no signature'],
    ['hs256WithPublicKey', 'is HS256 signed with the published public key as the secret'],
    ['unknownKid', 'is signed by a stranger key under a kid the JWKS lacks'],
    ['tamperedPayload', 'carries another sub under the genuine signature'],
    ['wrongIssuer', 'is correctly signed but names another iss'],
    ['wrongAudience', 'is correctly signed but names another aud'],
    ['expired', 'is correctly signed but expired an hour ago'],
    ['issuedInTheFuture', 'is correctly signed but issued an hour from now'],
    ['subNotAUserId', 'is correctly signed but its sub is not a user id'],
  ];
  const needsKey: BadToken[] = ['wrongIssuer', 'wrongAudience', 'expired', 'issuedInTheFuture', 'subNotAUserId'];

  for (const [kind, how] of kinds) {
    const test = needsKey.includes(kind) ? local : it;
    const suffix = needsKey.includes(kind) ? ' (needs the local platform)' : '';
    test(`when the token ${how}, then 401 with a Bearer invalid_token challenge on every instance of every service${suffix}`, async () => {
      await expectRefused(client, bad[kind] as string);
    });
  }
});
