import { adminQuery, startServiceProcess, type ServiceProcess } from '@platform/testing';
import { adminUrl } from '../orders/schema';

/** The four processes of the platform, as `npm start` runs them, on schemas and key prefixes of the bench's own. */
export interface Platform {
  users: ServiceProcess;
  orders: ServiceProcess;
  payments: ServiceProcess;
  sandbox: ServiceProcess;
  /** Every schema created, by service. */
  schemas: string[];
}

/** Releases what was opened, last first; the bench calls it whatever happens. */
export type Cleanup = (close: () => Promise<unknown>) => void;

/** Limits far above the bench's own traffic, so that it measures the work and not the limiter. */
const ROOMY = { RATE_LIMIT_MAX: '1000000', LOGIN_RATE_LIMIT_MAX: '1000', ACCESS_TOKEN_TTL_SECONDS: '3600' };

async function schema(name: string, cleanup: Cleanup): Promise<string> {
  await adminQuery(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`, adminUrl());
  cleanup(() => adminQuery(`DROP DATABASE IF EXISTS \`${name}\``, adminUrl()));
  const url = adminUrl();
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * user-service and the sandbox first, then order-service (it needs user-service's JWKS),
 * then payment-service (it needs all three). Each service migrates its own schema first.
 */
export async function startPlatform(redisUrl: string, run: string, cleanup: Cleanup): Promise<Platform> {
  const shared = { ...ROOMY, REDIS_URL: redisUrl, AUTH_REDIS_KEY_PREFIX: `bench:${run}:auth:`, EVENTS_REDIS_KEY_PREFIX: `bench:${run}:events:` };
  const schemas: string[] = [];
  const own = async (label: string) => {
    const name = `bench_payments_${run}_${label}`;
    schemas.push(name);
    return { DATABASE_URL: await schema(name, cleanup), REDIS_KEY_PREFIX: `bench:${run}:${label}:` };
  };
  const start = async (service: string, env: Record<string, string>, migrate = true) => {
    const started = await startServiceProcess({ service, env, migrate, readyTimeoutMs: 60_000 });
    cleanup(async () => {
      const code = await started.stop();
      if (code !== 0) console.error(`${service} exited with ${code} on SIGTERM:\n${started.output().slice(-2_000)}`);
    });
    return started;
  };
  const [users, sandbox] = await Promise.all([
    start('user-service', { ...shared, ...(await own('user')) }),
    // As fast as the sandbox goes: the baseline is the provider's own rate, not a simulated delay.
    start('gateway-sandbox', { GATEWAY_LATENCY_MS: '0', GATEWAY_FAILURE_RATE: '0' }, false),
  ]);
  const orders = await start('order-service', { ...shared, ...(await own('order')), USER_SERVICE_URL: users.url });
  const payments = await start('payment-service', {
    ...shared,
    ...(await own('payment')),
    USER_SERVICE_URL: users.url,
    ORDER_SERVICE_URL: orders.url,
    PAYMENT_GATEWAY_URL: sandbox.url,
  });
  return { users, orders, payments, sandbox, schemas };
}
