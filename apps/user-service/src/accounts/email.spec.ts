import { InvalidEmail } from '../errors';
import { MAX_EMAIL_LENGTH, normalizeEmail } from './email';

const refusal = (raw: string): string => {
  try {
    normalizeEmail(raw);
  } catch (err) {
    if (err instanceof InvalidEmail) return err.reason;
    throw err;
  }
  throw new Error(`${JSON.stringify(raw)} was accepted`);
};

describe('normalizeEmail', () => {
  it.each([
    ['NFC', 'jos\u00e9@example.com'],
    ['NFD', 'jose\u0301@example.com'],
    ['upper case, NFD', 'JOSE\u0301@EXAMPLE.COM'],
    ['fullwidth letters', '\uff4a\uff4f\uff53\u00e9@example.com'],
    ['fullwidth capitals and surrounding spaces', '  \uff2a\uff2f\uff33\u00c9@example.com\t'],
  ])('when the address is spelled %s, then it becomes the one NFC lower-case spelling', (_how, raw) => {
    expect(normalizeEmail(raw)).toBe('jos\u00e9@example.com');
  });

  it('when NFKC expands a ligature, then the letters are what is kept', () => {
    expect(normalizeEmail('o\ufb03ce@example.com')).toBe('office@example.com');
  });

  const INVISIBLE = 'a zero-width or other invisible character';
  const BIDI = 'a bidirectional-format character';
  const CONTROL = 'a control character';
  it.each([
    ['\u200b', INVISIBLE],
    ['\u200c', INVISIBLE],
    ['\u200d', INVISIBLE],
    ['\u2060', INVISIBLE],
    ['\ufeff', INVISIBLE],
    ['\u00ad', INVISIBLE],
    ['\ufe0f', INVISIBLE],
    ['\u{e0041}', INVISIBLE],
    ['\u200e', BIDI],
    ['\u200f', BIDI],
    ['\u061c', BIDI],
    ...[0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069].map((c) => [String.fromCodePoint(c), BIDI]),
    ['\u0000', CONTROL],
    ['\u0001', CONTROL],
    ['\u007f', CONTROL],
    ['\u0085', CONTROL],
    ['\ud800', 'an unpaired surrogate'],
  ])('when %j lies inside the address, then it is refused, naming the character and what it is', (ch, what) => {
    const code = `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
    expect(refusal(`jo${ch}se@example.com`)).toBe(`must not contain ${code} (${what})`);
  });

  it.each([
    ['a fullwidth at sign besides the real one', 'a\uff20b@example.com'],
    ['a small at sign besides the real one', 'a\ufe6bb@example.com'],
    ['a diaeresis that becomes a space', 'a\u00a8b@example.com'],
  ])('when the address holds %s, then the normalised form is checked again and refused', (_what, raw) => {
    expect(refusal(raw)).toBe('must be an email address (local-part@domain) once normalised');
  });

  it('when the normalised address has 254 characters, then it is accepted; at 255 refused', () => {
    const at = (n: number) => `ada@${'b'.repeat(n - 8)}.com`;
    expect(normalizeEmail(at(MAX_EMAIL_LENGTH))).toHaveLength(MAX_EMAIL_LENGTH);
    expect(refusal(at(MAX_EMAIL_LENGTH + 1))).toBe('must NOT have more than 254 characters once normalised');
  });

  it('when the limit applies, then it counts the normalised form: NFD that composes fits, a ligature that expands does not', () => {
    const nfd = `${'e\u0301'.repeat(20)}@${'b'.repeat(229)}.com`;
    expect([...nfd].length).toBeGreaterThan(MAX_EMAIL_LENGTH);
    expect([...normalizeEmail(nfd)]).toHaveLength(254);
    const ligatures = `${'\ufb03'.repeat(20)}@${'b'.repeat(229)}.com`;
    expect([...ligatures]).toHaveLength(254);
    expect(refusal(ligatures)).toBe('must NOT have more than 254 characters once normalised');
  });

  /*
   * Two properties of Unicode's data as this Node's ICU has it, on which normalizeEmail relies:
   * the normal form is a fixed point (a stored address normalises to itself), and normalising
   * never makes a hidden character out of a visible one (so looking for them in what was sent is enough).
   */
  it('when any code point is normalised, then normalising again changes nothing and makes no hidden character', () => {
    const form = (s: string) => s.normalize('NFKC').toLowerCase();
    const hidden = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/u;
    const unstable: string[] = [];
    const madeHidden: string[] = [];
    for (let c = 0; c < 0x110000; c += 1) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const s = String.fromCodePoint(c);
      const once = form(s);
      if (form(once) !== once) unstable.push(c.toString(16));
      if (!hidden.test(s) && hidden.test(once)) madeHidden.push(c.toString(16));
    }
    expect({ unstable, madeHidden }).toEqual({ unstable: [], madeHidden: [] });
  });
});
