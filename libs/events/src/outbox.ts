import type { DataSource, EntityManager } from 'typeorm';

/**
 * The outbox table the relay reads, created by each service's own migration. Copy it into
 * the migration rather than importing it: a migration must not change when this file does.
 * Works on MySQL 8.4 and MariaDB 10.11.
 *
 * - `dedupe_key`: an event that may be enqueued twice (a redelivered trigger) is stored once.
 * - `ix_outbox_unsent (sent_at, id)`: the relay's `sent_at IS NULL ORDER BY id` and the
 *   retention's `sent_at < ?` are both range scans of it.
 */
export const OUTBOX_TABLE_DDL = `CREATE TABLE outbox (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  stream VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  dedupe_key VARCHAR(191) CHARACTER SET ascii COLLATE ascii_bin NULL,
  payload MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  created_at DATETIME(3) NOT NULL,
  sent_at DATETIME(3) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_outbox_dedupe (dedupe_key),
  KEY ix_outbox_unsent (sent_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;

export interface OutboxEntry {
  /** A stream name (STREAMS), relative to the events prefix. */
  stream: string;
  /** Published as JSON, as it is. */
  payload: object;
  /** At most one row per key, ever (sent rows too, until retention deletes them). */
  dedupeKey?: string;
}

/**
 * `ON DUPLICATE KEY UPDATE` rather than `INSERT IGNORE`, which would also turn bad values
 * and other errors into warnings. Which of the two happened cannot be read from
 * affectedRows: mysql2 connects with CLIENT_FOUND_ROWS, so a row left as it was counts 1,
 * like an inserted one. So the duplicate path sets LAST_INSERT_ID(0), and the insert id the
 * server reports is 0 for it and the new row's id otherwise. (It also leaves the session's
 * LAST_INSERT_ID() at 0 after a duplicate.) Times are the database's UTC clock throughout
 * the outbox, so no two instances' clocks are compared.
 */
const insertRow = (row: string) => `INSERT INTO outbox (stream, dedupe_key, payload, created_at) ${row}
  ON DUPLICATE KEY UPDATE id = id + LAST_INSERT_ID(0)`;
const INSERT = insertRow('VALUES (?, ?, ?, UTC_TIMESTAMP(3))');
const INSERT_AFTER_ONE_ROW_CHANGED = insertRow('SELECT ?, ?, ?, UTC_TIMESTAMP(3) FROM DUAL WHERE ROW_COUNT() = 1');

/** The values of INSERT's placeholders, in order. */
const valuesOf = (entry: OutboxEntry): (string | null)[] => [entry.stream, entry.dedupeKey ?? null, JSON.stringify(entry.payload)];

/** What TypeORM's query() answers for an INSERT over mysql2. */
type InsertResult = { affectedRows: number; insertId: number | string };

/**
 * Adds an event to the outbox. Call it inside the transaction that makes the change the
 * event reports, so both commit or neither does; then nudge the relay after the commit.
 * Resolves to false when `dedupeKey` was already there (nothing was added).
 */
export async function enqueue(db: EntityManager | DataSource, entry: OutboxEntry): Promise<boolean> {
  const result = (await db.query(INSERT, valuesOf(entry))) as InsertResult;
  return result.affectedRows > 0 && String(result.insertId) !== '0';
}

/**
 * The same row as one statement of a one-trip transaction (libs/db's `oneTrip.run`), added only
 * when the statement just before it in that transaction changed exactly one row (`ROW_COUNT()`,
 * which that statement set): a conditional UPDATE and the event reporting it then go to the
 * server together, and the event is stored only if the update happened. Whether the row was
 * added is not answered; the UPDATE's own count says whether the change (and so its event) took place.
 */
export function enqueueAfterOneRowChanged(entry: OutboxEntry): { sql: string; values: (string | null)[] } {
  return { sql: INSERT_AFTER_ONE_ROW_CHANGED, values: valuesOf(entry) };
}
