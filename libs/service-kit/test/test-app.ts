import type { DestinationStream } from 'pino';
import { createServer, type App } from '../src/server';
import { serviceDefaults } from '../src/service-defaults';

export const TEST_SERVICE = 'kit-test';

/** A time-ordered UUID (v7), as `genReqId` makes when the caller's id is unusable. */
export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The members every problem+json body has, in sorted order. */
export const PROBLEM_KEYS = ['code', 'detail', 'requestId', 'status', 'title', 'type'];

export interface TestAppOptions {
  service?: string;
  /** Where log lines go; without it the app logs nothing. */
  logStream?: DestinationStream;
  /** LOG_LEVEL when there is a logStream; `info` unless given. */
  logLevel?: string;
  defaultMetrics?: boolean;
  /** CORS_ALLOWED_ORIGINS; unset, no CORS. */
  corsAllowedOrigins?: string;
  /** Declares the test's own routes, after the service defaults, as a service's app plugin would. */
  routes?: (app: App) => void;
}

/**
 * The kit's own server with the `serviceDefaults` plugin and a test's routes: what a
 * service's `app.ts` builds, minus MySQL and Redis. The caller closes it.
 */
export async function buildTestApp(opts: TestAppOptions = {}): Promise<App> {
  const service = opts.service ?? TEST_SERVICE;
  const app = createServer({
    service,
    logLevel: opts.logStream ? (opts.logLevel ?? 'info') : 'silent',
    requestTimeoutMs: 5_000,
    logStream: opts.logStream,
  });
  await app.register(serviceDefaults, {
    service,
    title: service,
    description: 'service-kit behaviour tests',
    version: '0.0.0-test',
    defaultMetrics: opts.defaultMetrics ?? false,
    corsAllowedOrigins: opts.corsAllowedOrigins,
  });
  opts.routes?.(app);
  await app.ready();
  return app;
}

export type LogLine = Record<string, unknown> & { msg?: string; requestId?: string };

/** A pino destination that keeps every line, raw and parsed. */
export function captureLogs(): { stream: DestinationStream; lines: LogLine[]; raw: string[] } {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  return {
    lines,
    raw,
    stream: {
      write(chunk: string) {
        raw.push(chunk);
        lines.push(JSON.parse(chunk) as LogLine);
      },
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
