import { DataSource, type MigrationInterface } from 'typeorm';
import type { MysqlDriver } from 'typeorm/driver/mysql/MysqlDriver';

export type MigrationClass = new () => MigrationInterface;

export interface DataSourceConfig {
  url: string;
  poolSize: number;
  connectTimeoutMs: number;
  /** Server-side limit for each statement; unset for migrations, whose DDL may run long. */
  queryTimeoutMs?: number;
  migrations?: MigrationClass[];
}

/** A TypeORM DataSource over mysql2. `synchronize` is never on: the schema comes from migrations. */
export function createDataSource(config: DataSourceConfig): DataSource {
  return new DataSource({
    type: 'mysql',
    url: config.url,
    poolSize: config.poolSize,
    connectTimeout: config.connectTimeoutMs,
    charset: 'utf8mb4_unicode_ci',
    timezone: 'Z',
    // BIGINT money comes back as a string and is converted with a range check, never as a lossy float.
    supportBigNumbers: true,
    bigNumberStrings: true,
    synchronize: false,
    migrationsRun: false,
    migrations: config.migrations ?? [],
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    logging: false,
    extra: { enableKeepAlive: true, maxIdle: config.poolSize, idleTimeout: 60_000 },
  });
}

type RawConnection = { query(sql: string, cb: (err: Error | null) => void): void };
type RawPool = { on(event: 'connection', listener: (conn: RawConnection) => void): void };

/**
 * mysql2 has no per-pool statement timeout, so each connection asks the server for
 * one when it opens. MariaDB's max_statement_time covers every statement; MySQL's
 * max_execution_time covers SELECTs (writes are bounded by innodb_lock_wait_timeout).
 */
async function applyQueryTimeout(ds: DataSource, ms: number, onError: (err: Error) => void): Promise<void> {
  const [{ version }] = (await ds.query('SELECT VERSION() AS version')) as [{ version: string }];
  const sql = /mariadb/i.test(version)
    ? `SET SESSION max_statement_time = ${(ms / 1000).toFixed(3)}`
    : `SET SESSION max_execution_time = ${Math.round(ms)}`;
  // The pool holds one idle connection after initialize(); later ones get it on open.
  await ds.query(sql);
  const pool = (ds.driver as MysqlDriver).pool as RawPool;
  pool.on('connection', (conn) => conn.query(sql, (err) => err && onError(err)));
}

export async function initializeDataSource(
  ds: DataSource,
  config: Pick<DataSourceConfig, 'queryTimeoutMs'>,
  onError: (err: Error) => void = () => undefined,
): Promise<DataSource> {
  await ds.initialize();
  try {
    if (config.queryTimeoutMs) await applyQueryTimeout(ds, config.queryTimeoutMs, onError);
  } catch (err) {
    await ds.destroy();
    throw err;
  }
  return ds;
}

/**
 * A BIGINT money column as a number. The pool returns BIGINT as a string (bigNumberStrings);
 * amounts are held below 2^53 by the services' limits, and one that is not fails loudly here
 * instead of being rounded.
 */
export function moneyOf(value: string | number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`amount ${value} is not a safe integer`);
  return n;
}
