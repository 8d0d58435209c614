import type { App } from '@platform/service-kit';
import { uniqueSuffix } from '@platform/testing';
import { PASSWORD, build, login } from './helper';

let app: App;
beforeAll(async () => {
  app = await build();
});
afterAll(() => app.close());

const post = (url: string, payload: object) => app.inject({ method: 'POST', url, payload });
const register = (email: string) => post('/v1/auth/register', { email, password: PASSWORD, name: 'José' });
const sub = (accessToken: string) => JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString()).sub as string;
/** ASCII letters and digits as their fullwidth forms (U+FF01..U+FF5E). */
const fullwidth = (s: string) => s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));

/** One address in the spellings a person reads as the same; each test has its own. */
function spellings() {
  const tail = uniqueSuffix();
  return {
    nfc: `jos\u00e9-${tail}@example.com`,
    nfd: `jose\u0301-${tail}@example.com`,
    upperNfd: `JOSE\u0301-${tail.toUpperCase()}@Example.COM`,
    fullwidth: `${fullwidth(`jos`)}\u00e9${fullwidth(`-${tail}`)}@example.com`,
    accentless: `jose-${tail}@example.com`,
  };
}

describe('one address, many spellings (CONTRACT.md, Authentication, Email)', () => {
  it('when an address is registered in NFD, then it is stored and answered in its one NFC lower-case spelling', async () => {
    const s = spellings();
    const res = await register(s.upperNfd);
    expect(res.statusCode).toBe(201);
    expect(res.json().email).toBe(s.nfc);
  });

  it.each(['nfd', 'upperNfd', 'fullwidth'] as const)('when the address is taken in NFC and registered again spelled %s, then 409 EMAIL_TAKEN', async (how) => {
    const s = spellings();
    expect((await register(s.nfc)).statusCode).toBe(201);
    const again = await register(s[how]);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'EMAIL_TAKEN' });
  });

  it('when registered in one spelling, then login with each other spelling signs in to that account', async () => {
    const s = spellings();
    const created = await register(s.fullwidth);
    expect(created.statusCode).toBe(201);
    for (const email of [s.nfc, s.nfd, s.upperNfd, s.fullwidth]) {
      expect(sub((await login(app, email)).accessToken)).toBe(created.json().id);
    }
  });

  it('when two addresses differ by an accent, then they are two accounts: MySQL compares the normalised bytes, not letters', async () => {
    const s = spellings();
    const accented = await register(s.nfc);
    const plain = await register(s.accentless);
    expect([accented.statusCode, plain.statusCode]).toEqual([201, 201]);
    expect(sub((await login(app, s.accentless)).accessToken)).toBe(plain.json().id);
    expect(sub((await login(app, s.nfd)).accessToken)).toBe(accented.json().id);
  });
});

describe('addresses with hidden characters', () => {
  it.each([
    ['a zero-width space', '\u200b', 'must not contain U+200B (a zero-width or other invisible character)'],
    ['a soft hyphen', '\u00ad', 'must not contain U+00AD (a zero-width or other invisible character)'],
    ['a right-to-left override', '\u202e', 'must not contain U+202E (a bidirectional-format character)'],
    ['a control character', '\u0007', 'must not contain U+0007 (a control character)'],
  ])('when the address has %s inside, then register and login answer 400 VALIDATION_FAILED at body/email and no account is made', async (_what, ch, message) => {
    const s = spellings();
    const hidden = s.nfc.replace('-', `-${ch}`);
    for (const res of [await register(hidden), await post('/v1/auth/login', { email: hidden, password: PASSWORD })]) {
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: 'body/email', message }] });
    }
    // Nothing was stored under the visible spelling either.
    expect((await register(s.nfc)).statusCode).toBe(201);
  });

  it('when a fullwidth at sign becomes a second @ once normalised, then 400 VALIDATION_FAILED at body/email', async () => {
    const res = await register(`a\uff20b-${uniqueSuffix()}@example.com`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ path: 'body/email', message: 'must be an email address (local-part@domain) once normalised' }],
    });
  });
});
