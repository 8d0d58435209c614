import { InvalidEmail } from '../errors';

/** RFC 5321's limit on a usable address, counted on the normalised form (what is stored and compared). */
export const MAX_EMAIL_LENGTH = 254;

/**
 * Characters a person cannot see or that reorder what they see, so that two addresses
 * that read the same would be two accounts. Each with the words its refusal uses.
 * Soft hyphens, variation selectors and the other Default_Ignorable_Code_Points are
 * refused with the zero-width ones: no address needs them, and all are invisible.
 */
const HIDDEN: readonly (readonly [RegExp, string])[] = [
  [/\p{Bidi_Control}/u, 'a bidirectional-format character'],
  [/\p{Cc}/u, 'a control character'],
  [/[\p{Default_Ignorable_Code_Point}\p{Cf}]/u, 'a zero-width or other invisible character'],
  [/\p{Cs}/u, 'an unpaired surrogate'],
];

// The shape the request schema checks too, again on the normalised form: NFKC turns a
// fullwidth `＠` into `@` and `¨` into a space and a combining mark.
const ADDRESS = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/u;

const codePoint = (ch: string) => `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * The one spelling of an email that user-service stores and compares (CONTRACT.md,
 * Authentication): trimmed, NFKC-normalised, lower-cased. Throws InvalidEmail for an
 * address with a hidden character, longer than 254 characters, or not of the form
 * local@domain once normalised.
 *
 * Hidden characters are looked for in what was sent: NFKC and lower-casing make none
 * from other characters (email.spec.ts checks every code point).
 */
export function normalizeEmail(raw: string): string {
  const trimmed = raw.trim();
  for (const [pattern, what] of HIDDEN) {
    const found = pattern.exec(trimmed);
    if (found) throw new InvalidEmail(`must not contain ${codePoint(found[0])} (${what})`);
  }
  const email = trimmed.normalize('NFKC').toLowerCase();
  // Code points, as MySQL's VARCHAR(254) counts them, not UTF-16 units.
  if ([...email].length > MAX_EMAIL_LENGTH) {
    throw new InvalidEmail(`must NOT have more than ${MAX_EMAIL_LENGTH} characters once normalised`);
  }
  if (!ADDRESS.test(email)) throw new InvalidEmail('must be an email address (local-part@domain) once normalised');
  return email;
}
