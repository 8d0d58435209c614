import { createApp, createServer, loadConfig, serviceDefaults, type App, type ServiceDefinition } from '@platform/service-kit';
import type { TProperties } from '@sinclair/typebox';

/**
 * The service's real app plugin on the real server options, with `env` over the
 * process environment (which holds MYSQL_ADMIN_URL and REDIS_URL in tests).
 */
export async function buildApp<P extends TProperties>(
  def: ServiceDefinition<P>,
  env: Record<string, string> = {},
  /** Runs after the app has closed, e.g. to drop the test's schema. */
  cleanup?: () => Promise<void>,
): Promise<App> {
  const config = loadConfig(def.configSchema, { ...process.env, LOG_LEVEL: 'silent', ...env });
  const app = await createApp(def, config, { defaultMetrics: false });
  if (cleanup) app.addHook('onClose', cleanup);
  await app.ready();
  return app;
}

/** Polls `fn` until it returns true or `timeoutMs` passes; returns the last answer. */
export async function eventually(fn: () => Promise<boolean>, timeoutMs = 10_000, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A server with only the kit's defaults, for testing one plugin at a time; call ready() after registering. */
export async function kitApp(service: string): Promise<App> {
  const app = createServer({ service, logLevel: 'silent', requestTimeoutMs: 10_000 });
  await app.register(serviceDefaults, { service, title: service, description: service, version: '0', defaultMetrics: false });
  return app;
}

/** GET /health/ready as status and parsed body. */
export async function readiness(app: App): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await app.inject({ method: 'GET', url: '/health/ready' });
  return { status: res.statusCode, body: res.json() };
}

/** The Authorization header of a Bearer token, for app.inject. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
