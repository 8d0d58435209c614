import { mysql } from '@platform/db';
import { createServer, redis, serviceDefaults, type App } from '@platform/service-kit';
import { testKeyPrefix } from '@platform/testing';
import { logCapture, REDIS_URL } from './helpers';

export const SERVICE = 'events-test';

/**
 * A service as the apps build one (kit defaults, then mysql, then redis), logging at info
 * into `logs`, not yet ready: a test registers the relay or a consumer, then calls ready().
 */
export async function serviceApp(databaseUrl: string): Promise<{ app: App; logs: ReturnType<typeof logCapture> }> {
  const logs = logCapture();
  const app = createServer({ service: SERVICE, logLevel: 'info', requestTimeoutMs: 10_000, logStream: logs.stream });
  await app.register(serviceDefaults, { service: SERVICE, title: SERVICE, description: SERVICE, version: '0', defaultMetrics: false });
  await app.register(mysql, { url: databaseUrl, poolSize: 2, connectTimeoutMs: 2_000, queryTimeoutMs: 5_000 });
  await app.register(redis, { url: REDIS_URL(), commandTimeoutMs: 1_000, keyPrefix: testKeyPrefix('svc') });
  return { app, logs };
}

/** Log lines at warn or above (pino levels: warn 40, error 50, fatal 60). */
export function problems(lines: Record<string, unknown>[]): Record<string, unknown>[] {
  return lines.filter((line) => Number(line['level']) >= 40);
}
