import { DependencyUnavailableError } from '@platform/service-kit';
import { DataSource } from 'typeorm';
import { dataSourceOptions, initializeDataSource, type DataSourceConfig } from './data-source';

/** A value bound to a placeholder: what mysql2 escapes as one literal (arrays and objects it would expand are refused). */
export type SqlValue = string | number | bigint | boolean | Date | Buffer | null;

/** One statement of a one-trip transaction: constant SQL with `?` placeholders, and their values in order. */
export interface Statement {
  sql: string;
  values: readonly SqlValue[];
}

export interface OneTripTransactions {
  /**
   * Runs the statements in one transaction, sent to the server as a single query
   * (`START TRANSACTION; …; COMMIT`): one round trip. All or nothing: when one fails, the
   * server runs none after it, the transaction is rolled back before the connection is used
   * again (or the connection is destroyed, which rolls it back too), and the error is thrown.
   * Resolves to the rows each statement changed, in order (for an UPDATE: the rows its WHERE
   * matched, as mysql2 connects with CLIENT_FOUND_ROWS).
   */
  run(statements: readonly Statement[]): Promise<number[]>;
  /** Closes the pool, if it was ever opened. */
  close(): Promise<void>;
}

type RawConnection = { destroy(): void };

/**
 * mysql2 escapes values with backslashes; a session with NO_BACKSLASH_ESCAPES would read `\'`
 * as the end of a string. On a connection that accepts several statements per query, that would
 * let a value start a statement of its own, so each connection of this pool clears the mode
 * before its first transaction, whatever the server's default.
 */
const BACKSLASH_ESCAPES = "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')";

function placeholders(sql: string): number {
  return sql.split('?').length - 1;
}

function isScalar(value: unknown): boolean {
  return value === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof value) || value instanceof Date || Buffer.isBuffer(value);
}

/** The statements as one query. Each must be one statement whose every value is a placeholder's. */
function batchOf(statements: readonly Statement[]): { sql: string; values: SqlValue[] } {
  if (statements.length === 0) throw new Error('a one-trip transaction needs at least one statement');
  const values: SqlValue[] = [];
  for (const { sql, values: own } of statements) {
    if (sql.includes(';')) throw new Error(`one statement at a time, with no ';': ${sql.slice(0, 80)}`);
    if (placeholders(sql) !== own.length) throw new Error(`${placeholders(sql)} placeholders but ${own.length} values: ${sql.slice(0, 80)}`);
    if (!own.every(isScalar)) throw new Error(`only scalar values may be bound: ${sql.slice(0, 80)}`);
    values.push(...own);
  }
  return { sql: ['START TRANSACTION', ...statements.map((s) => s.sql), 'COMMIT'].join('; '), values };
}

/**
 * Transactions in one round trip, on a pool of their own whose connections accept several
 * statements per query (mysql2's `multipleStatements`). The service's other pools do not: only
 * what goes through `run` can ever be sent as more than one statement, and `run` takes only
 * constant statements with every value bound (ADR 0022). The pool opens on first use, with the
 * main pool's size, deadlines and per-connection statement timeout.
 */
export function createOneTripTransactions(config: DataSourceConfig, onError: (err: Error) => void = () => undefined): OneTripTransactions {
  const ds = new DataSource({ ...dataSourceOptions(config), multipleStatements: true });
  /** The pool's connections whose session has been set up (BACKSLASH_ESCAPES). */
  const sessionsReady = new WeakSet<object>();
  let opening: Promise<DataSource> | undefined;
  let closed = false;

  const ready = () => {
    // As `app.db` once closed: the request that meets it during a shutdown answers 503.
    if (closed) throw new DependencyUnavailableError('mysql');
    if (ds.isInitialized) return Promise.resolve(ds);
    return (opening ??= initializeDataSource(ds, config, onError).finally(() => (opening = undefined)));
  };

  return Object.freeze({
    async run(statements: readonly Statement[]): Promise<number[]> {
      const batch = batchOf(statements);
      const runner = (await ready()).createQueryRunner('master');
      try {
        const connection = (await runner.connect()) as object;
        if (!sessionsReady.has(connection)) {
          await runner.query(BACKSLASH_ESCAPES);
          sessionsReady.add(connection);
        }
        const results = (await runner.query(batch.sql, batch.values).catch(async (err: unknown) => {
          // The statements before the failing one ran inside a transaction the server left open.
          await runner.query('ROLLBACK').catch(() => (runner as unknown as { databaseConnection?: RawConnection }).databaseConnection?.destroy());
          throw err;
        })) as { affectedRows: number }[];
        // One result per statement of the query: START TRANSACTION's first, COMMIT's last.
        return results.slice(1, -1).map((r) => r.affectedRows);
      } finally {
        await runner.release();
      }
    },

    async close(): Promise<void> {
      closed = true;
      await opening?.catch(() => undefined);
      if (ds.isInitialized) await ds.destroy();
    },
  });
}
