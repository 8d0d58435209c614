import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Existing accounts take the one spelling of their email that user-service stores since
 * CONTRACT.md revision 2: trimmed, NFKC-normalised, lower-cased. Each account considered is
 * recorded in `user_email_spellings` with what its email was, so `down` puts back exactly
 * what `up` changed, and then drops the table.
 *
 * Accounts whose addresses become one (josé in NFC and in NFD) are all left as they are and
 * recorded as 'collision', the one already normalised included: which account keeps the
 * address is a person's decision (docs/operations.md). So is an address that would grow past
 * 254 characters ('too_long'). The migration reports both on stderr.
 *
 * The rule is copied from apps/user-service/src/accounts/email.ts, not imported: a migration
 * keeps doing what it did when it was written, whatever the service does later.
 */
const normalise = (email: string) => email.trim().normalize('NFKC').toLowerCase();
const MAX_EMAIL_LENGTH = 254;
const BATCH = 1000;

type Outcome = 'normalised' | 'collision' | 'too_long';
interface Spelling {
  id: Buffer;
  original: string;
  normalised: string;
  outcome: Outcome;
}

export class NormalisedEmails1764200000000 implements MigrationInterface {
  name = 'NormalisedEmails1764200000000';

  async up(q: QueryRunner): Promise<void> {
    // IF NOT EXISTS: a run that failed after this statement leaves the table behind, empty.
    await q.query(`CREATE TABLE IF NOT EXISTS user_email_spellings (
      user_id BINARY(16) NOT NULL,
      original VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
      normalised VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
      outcome ENUM('normalised', 'collision', 'too_long') NOT NULL,
      PRIMARY KEY (user_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    // CREATE TABLE has committed the migration's transaction; the changes below get one again,
    // so that they land all together or not at all.
    await q.commitTransaction();
    await q.startTransaction();

    const changes = await changing(q);
    const spellings = decide(changes, await holders(q, [...changes.keys()]));
    for (const s of spellings) {
      await q.query('INSERT INTO user_email_spellings (user_id, original, normalised, outcome) VALUES (?, ?, ?, ?)', [
        s.id,
        s.original,
        s.normalised,
        s.outcome,
      ]);
      if (s.outcome === 'normalised') {
        await q.query('UPDATE users SET email = ?, version = version + 1, updated_at = UTC_TIMESTAMP(3) WHERE id = ?', [s.normalised, s.id]);
      }
    }
    report(spellings.filter((s) => s.outcome !== 'normalised'));
  }

  async down(q: QueryRunner): Promise<void> {
    // The originals cannot collide: each was unique, and none is a normalised address.
    await q.query(`UPDATE users u JOIN user_email_spellings s ON s.user_id = u.id
      SET u.email = s.original, u.version = u.version + 1, u.updated_at = UTC_TIMESTAMP(3)
      WHERE s.outcome = 'normalised'`);
    await q.query('DROP TABLE user_email_spellings');
  }
}

/** Accounts whose email is not in its normal form, read in batches along the primary key. */
async function changing(q: QueryRunner): Promise<Map<string, { id: Buffer; email: string }[]>> {
  const byNormal = new Map<string, { id: Buffer; email: string }[]>();
  let after: Buffer = Buffer.alloc(16);
  for (;;) {
    const rows = (await q.query('SELECT id, email FROM users WHERE id > ? ORDER BY id LIMIT ?', [after, BATCH])) as { id: Buffer; email: string }[];
    for (const row of rows) {
      const normal = normalise(row.email);
      if (normal !== row.email) byNormal.set(normal, [...(byNormal.get(normal) ?? []), row]);
    }
    const last = rows.at(-1);
    if (!last || rows.length < BATCH) return byNormal;
    after = last.id;
  }
}

/** The accounts that already hold one of `addresses`, by address. */
async function holders(q: QueryRunner, addresses: string[]): Promise<Map<string, Buffer>> {
  const held = new Map<string, Buffer>();
  for (let i = 0; i < addresses.length; i += BATCH) {
    const chunk = addresses.slice(i, i + BATCH);
    const rows = (await q.query(`SELECT id, email FROM users WHERE email IN (${chunk.map(() => '?').join(', ')})`, chunk)) as {
      id: Buffer;
      email: string;
    }[];
    for (const row of rows) held.set(row.email, row.id);
  }
  return held;
}

/** An address wanted by one account alone, and free, is taken; any other is left to a person. */
function decide(changes: Map<string, { id: Buffer; email: string }[]>, held: Map<string, Buffer>): Spelling[] {
  return [...changes].flatMap(([normalised, rows]): Spelling[] => {
    const holder = held.get(normalised);
    if (rows.length === 1 && holder === undefined) {
      const outcome: Outcome = [...normalised].length > MAX_EMAIL_LENGTH ? 'too_long' : 'normalised';
      return rows.map((r) => ({ id: r.id, original: r.email, normalised, outcome }));
    }
    const all = holder === undefined ? rows : [...rows, { id: holder, email: normalised }];
    return all.map((r) => ({ id: r.id, original: r.email, normalised, outcome: 'collision' }));
  });
}

function report(left: Spelling[]): void {
  if (left.length === 0) return;
  const lines = left.map((s) => `  ${s.outcome} ${s.id.toString('hex')} ${JSON.stringify(s.original)} -> ${JSON.stringify(s.normalised)}\n`);
  process.stderr.write(
    `user-service: ${left.length} account(s) keep their email as it was; see user_email_spellings and docs/operations.md ("Emails in one spelling"):\n${lines.join('')}`,
  );
}
