// Free of path aliases: jest's global setup loads it outside jest's module system (tools/jest/test-servers.ts).
import type { DependencyFailure } from './health';

const SOCKET_FAILURES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** The kind of failure a Redis error is: from its code for the socket's errors, from the reply's first word for the server's. */
export function redisFailure(err: unknown): DependencyFailure {
  const { code, message = '' } = (err ?? {}) as { code?: string; message?: string };
  if (code === 'ETIMEDOUT' || /^Command timed out/.test(message)) return 'timeout';
  if ((code && SOCKET_FAILURES.has(code)) || /^(Connection is closed|Stream isn't writeable)/.test(message)) return 'not answering';
  if (/^(WRONGPASS|NOAUTH|NOPERM|ERR AUTH)/.test(message)) return 'refused credentials';
  if (/^ERR (DB index|invalid DB index)/i.test(message)) return 'unknown schema';
  return 'failing';
}
