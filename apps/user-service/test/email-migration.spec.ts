import { createDataSource, initializeDataSource, migrate, newId, uuidToBinary } from '@platform/db';
import { migrations } from '@platform/migrations/user-service';
import { createTestDatabase } from '@platform/testing';
import { normalizeEmail } from '../src/accounts/email';

/** The migration that gives existing accounts their email's one spelling, on real MySQL. */
const MIGRATION = 'NormalisedEmails1764200000000';
const fullwidth = (s: string) => s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
const hex = (id: string) => id.replace(/-/g, '');

/**
 * A schema of its own with the migrations before this one, `seeds` as accounts (by key), and
 * this migration pending. `emails()` reads each seeded account's email back, by key.
 */
async function seeded<K extends string>(seeds: Record<K, string>) {
  const db = await createTestDatabase('user-email-migration');
  const open = (list: typeof migrations) =>
    initializeDataSource(createDataSource({ url: db.url, poolSize: 1, connectTimeoutMs: 5_000, migrations: list }), {});
  // The migrations before this one, then up to it: later ones are not this test's.
  const at = migrations.findIndex((m) => m.name === MIGRATION);
  if (at < 0) throw new Error(`${MIGRATION} is not in user-service's migrations`);
  const old = await open(migrations.slice(0, at));
  await migrate(old, 'up');
  const ids = {} as Record<K, string>;
  for (const key of Object.keys(seeds) as K[]) {
    ids[key] = newId();
    await old.query(
      "INSERT INTO users (id, email, name, password_hash, version, created_at, updated_at) VALUES (?, ?, 'Seeded', 'x', 1, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))",
      [uuidToBinary(ids[key]), seeds[key]],
    );
  }
  await old.destroy();
  const ds = await open(migrations.slice(0, at + 1));
  const keyOf = (idHex: string) => (Object.keys(ids) as K[]).find((k) => hex(ids[k]) === idHex);
  return {
    ds,
    ids,
    keyOf,
    async emails(): Promise<Record<K, string>> {
      const rows = (await ds.query('SELECT LOWER(HEX(id)) AS id, email FROM users')) as { id: string; email: string }[];
      return Object.fromEntries(rows.map((r) => [keyOf(r.id), r.email])) as Record<K, string>;
    },
    async spellingsTable(): Promise<boolean> {
      const [{ n }] = (await ds.query(
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'user_email_spellings'",
      )) as [{ n: number | string }];
      return Number(n) === 1;
    },
    async close() {
      await ds.destroy();
      await db.drop();
    },
  };
}

/** `migrate(ds, 'up')`, with what it wrote to stderr. */
async function upCapturingStderr(ds: Parameters<typeof migrate>[0]) {
  const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const ran = await migrate(ds, 'up');
    return { ran, stderr: write.mock.calls.map((c) => String(c[0])).join('') };
  } finally {
    write.mockRestore();
  }
}

describe('the normalised-emails migration', () => {
  it('when taken up, then NFD, fullwidth and upper-case addresses take the spelling the service uses; taken down, they are back exactly', async () => {
    const seeds = { nfdUpper: 'JOSE\u0301@Example.com', fullwidth: `${fullwidth('full')}@example.com`, upper: 'UPPER@EXAMPLE.COM', plain: 'plain@example.com' };
    const t = await seeded(seeds);
    try {
      const { ran, stderr } = await upCapturingStderr(t.ds);
      expect(ran).toEqual([MIGRATION]);
      expect(stderr).toBe('');
      expect(await t.emails()).toEqual({ nfdUpper: 'jos\u00e9@example.com', fullwidth: 'full@example.com', upper: 'upper@example.com', plain: 'plain@example.com' });
      for (const [key, email] of Object.entries(await t.emails())) expect(email).toBe(normalizeEmail(seeds[key as keyof typeof seeds]));

      expect(await migrate(t.ds, 'revert')).toEqual([MIGRATION]);
      expect(await t.emails()).toEqual(seeds);
      expect(await t.spellingsTable()).toBe(false);
    } finally {
      await t.close();
    }
  });

  it('when addresses would become one or grow past 254 characters, then those accounts keep theirs, others move, and the table and stderr name them', async () => {
    const seeds = {
      // One account already holds the address another would take.
      heldWanted: `${fullwidth('held')}@example.com`,
      heldHolder: 'held@example.com',
      // Two accounts would take an address nobody holds yet.
      twinNfd: 'twi\u0301n@example.com',
      twinFullwidth: `${fullwidth('tw')}\u00ed${fullwidth('n')}@EXAMPLE.com`,
      // 254 characters that NFKC makes 294: the column holds 254.
      tooLong: `${'\ufb03'.repeat(20)}@${'b'.repeat(229)}.com`,
      mover: 'MOVER@example.com',
    };
    const t = await seeded(seeds);
    try {
      const { stderr } = await upCapturingStderr(t.ds);
      expect(await t.emails()).toEqual({ ...seeds, mover: 'mover@example.com' });
      const rows = (await t.ds.query('SELECT LOWER(HEX(user_id)) AS id, original, outcome FROM user_email_spellings')) as {
        id: string;
        original: string;
        outcome: string;
      }[];
      expect(rows.map((r) => `${r.outcome} ${t.keyOf(r.id)}`).sort()).toEqual([
        'collision heldHolder',
        'collision heldWanted',
        'collision twinFullwidth',
        'collision twinNfd',
        'normalised mover',
        'too_long tooLong',
      ]);
      expect(stderr).toMatch(/^user-service: 5 account\(s\) keep their email as it was/);
      for (const key of ['heldWanted', 'heldHolder', 'twinNfd', 'twinFullwidth', 'tooLong'] as const) expect(stderr).toContain(hex(t.ids[key]));
      expect(stderr).not.toContain(hex(t.ids.mover));

      expect(await migrate(t.ds, 'revert')).toEqual([MIGRATION]);
      expect(await t.emails()).toEqual(seeds);
    } finally {
      await t.close();
    }
  });
});
