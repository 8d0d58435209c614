import type { DependencyFailure } from '@platform/service-kit';

/** mysql2's error codes (the server's and its own), by what they tell an operator. */
const FAILURE_BY_CODE: Readonly<Record<string, DependencyFailure>> = Object.freeze({
  ER_ACCESS_DENIED_ERROR: 'refused credentials',
  ER_DBACCESS_DENIED_ERROR: 'refused credentials',
  ER_ACCESS_DENIED_NO_PASSWORD_ERROR: 'refused credentials',
  ER_BAD_DB_ERROR: 'unknown schema',
  ECONNREFUSED: 'not answering',
  ECONNRESET: 'not answering',
  EHOSTUNREACH: 'not answering',
  ENETUNREACH: 'not answering',
  ENOTFOUND: 'not answering',
  EAI_AGAIN: 'not answering',
  EPIPE: 'not answering',
  PROTOCOL_CONNECTION_LOST: 'not answering',
  ETIMEDOUT: 'timeout',
  PROTOCOL_SEQUENCE_TIMEOUT: 'timeout',
  POOL_ACQUIRE_TIMEOUT: 'timeout',
  // MariaDB's max_statement_time and MySQL's max_execution_time.
  ER_STATEMENT_TIMEOUT: 'timeout',
  ER_QUERY_TIMEOUT: 'timeout',
});

/** The kind of failure a MySQL error is, for readiness and start-up messages (TypeORM keeps mysql2's code). */
export function mysqlFailure(err: unknown): DependencyFailure {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.driverError?.code;
  return (typeof code === 'string' && FAILURE_BY_CODE[code]) || 'failing';
}
