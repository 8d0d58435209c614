import { DataSource, type EntitySubscriberInterface, type Logger, type MigrationInterface } from 'typeorm';
import type { MysqlConnectionOptions } from 'typeorm/driver/mysql/MysqlConnectionOptions';
import type { MysqlDriver } from 'typeorm/driver/mysql/MysqlDriver';
import type { AfterQueryEvent } from 'typeorm/subscriber/event/QueryEvent';

export type MigrationClass = new () => MigrationInterface;

export interface DataSourceConfig {
  url: string;
  poolSize: number;
  /** A new connection that has not finished its handshake in this time fails. */
  connectTimeoutMs: number;
  /**
   * Each statement's limit, unset for migrations (their DDL may run long). The server stops a
   * statement that runs this long; the client gives up `CLIENT_QUERY_GRACE_MS` later, for when the
   * server or the network between does not answer at all, and destroys that connection.
   */
  queryTimeoutMs?: number;
  /** How long a query waits for a free connection of the pool before failing; default: queryTimeoutMs, else none. */
  acquireTimeoutMs?: number;
  migrations?: MigrationClass[];
}

/** The client's deadline trails the server's, so a slow statement fails cleanly on a connection that stays usable. */
export const CLIENT_QUERY_GRACE_MS = 250;

/** TCP keep-alive on every pooled socket starts probing after this much silence. */
const KEEPALIVE_INITIAL_DELAY_MS = 10_000;

/** A pool acquire that waited too long; mapped to 503 like the driver's own timeouts. */
export class PoolAcquireTimeoutError extends Error {
  override readonly name = 'PoolAcquireTimeoutError';
  readonly code = 'POOL_ACQUIRE_TIMEOUT';
  constructor(readonly waitedMs: number) {
    super(`no MySQL connection became free within ${waitedMs} ms`);
  }
}

type RawPoolConnection = { destroy(): void; release(): void };
type GetConnection = (cb: (err: Error | null, conn?: RawPoolConnection) => void) => void;

/**
 * A connection whose query got no answer in time is destroyed, never handed to the next query:
 * its socket may be dead (a partition, a frozen server), and a late answer would otherwise be
 * read as the reply to whatever runs on it next. mysql2 fails the query but keeps the connection.
 */
class DestroyTimedOutConnections implements EntitySubscriberInterface {
  afterQuery(event: AfterQueryEvent<unknown>): void {
    const err = (event as { error?: { code?: unknown } }).error;
    if (err?.code !== 'PROTOCOL_SEQUENCE_TIMEOUT') return;
    (event.queryRunner as unknown as { databaseConnection?: RawPoolConnection }).databaseConnection?.destroy();
  }
}

/**
 * TypeORM logs every query slower than the client's deadline to the console whatever `logging`
 * says; such a query failed, and the service logs the failure with its request.
 */
const SILENT: Logger = Object.freeze({
  logQuery: () => undefined,
  logQueryError: () => undefined,
  logQuerySlow: () => undefined,
  logSchemaBuild: () => undefined,
  logMigration: () => undefined,
  log: () => undefined,
});

/** A TypeORM DataSource over mysql2. `synchronize` is never on: the schema comes from migrations. */
export function createDataSource(config: DataSourceConfig): DataSource {
  return new DataSource(dataSourceOptions(config));
}

/** What `createDataSource` opens, for a pool that differs in one option (see one-trip.ts). */
export function dataSourceOptions(config: DataSourceConfig): MysqlConnectionOptions {
  return {
    type: 'mysql',
    url: config.url,
    poolSize: config.poolSize,
    connectTimeout: config.connectTimeoutMs,
    // mysql2's per-query timeout, on the client: it covers a server or network that never answers.
    ...(config.queryTimeoutMs ? { enableQueryTimeout: true, maxQueryExecutionTime: config.queryTimeoutMs + CLIENT_QUERY_GRACE_MS } : {}),
    ...(config.queryTimeoutMs ? { logger: SILENT } : {}),
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
    extra: { enableKeepAlive: true, keepAliveInitialDelay: KEEPALIVE_INITIAL_DELAY_MS, maxIdle: config.poolSize, idleTimeout: 60_000 },
  };
}

/**
 * Bounds the wait for a pooled connection, which mysql2 does not (its pool ignores
 * `acquireTimeout`): with every connection stuck on a dead socket, queries would queue for ever.
 * A connection handed over after the caller gave up goes straight back to the pool.
 */
function boundAcquire(ds: DataSource, timeoutMs: number): void {
  const pool = (ds.driver as MysqlDriver).pool as { getConnection: GetConnection };
  const getConnection: GetConnection = pool.getConnection.bind(pool);
  pool.getConnection = (cb) => {
    let waiting = true;
    const timer = setTimeout(() => {
      waiting = false;
      cb(new PoolAcquireTimeoutError(timeoutMs));
    }, timeoutMs);
    getConnection((err, conn) => {
      if (!waiting) return conn?.release();
      waiting = false;
      clearTimeout(timer);
      cb(err, conn);
    });
  };
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
  config: Pick<DataSourceConfig, 'queryTimeoutMs' | 'acquireTimeoutMs'>,
  onError: (err: Error) => void = () => undefined,
): Promise<DataSource> {
  await ds.initialize();
  try {
    const acquireTimeoutMs = config.acquireTimeoutMs ?? config.queryTimeoutMs;
    if (acquireTimeoutMs) boundAcquire(ds, acquireTimeoutMs);
    // An instance, not a class in the options: TypeORM only takes classes marked with its decorator.
    if (config.queryTimeoutMs && !ds.subscribers.some((s) => s instanceof DestroyTimedOutConnections)) {
      ds.subscribers.push(new DestroyTimedOutConnections());
    }
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
