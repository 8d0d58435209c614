import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client, type Account } from '../../e2e/src/client';
import { buildApps, Platform, prepareDatabases } from '../../e2e/src/platform';
import { AppProcess, freePort } from '../../e2e/src/processes';

/**
 * The platform under load: the built apps, one process each, started by the e2e harness on
 * the machine's MariaDB (db:setup and every migration first, as the e2e suite does) and
 * on the bench's private redis-server.
 */

/** Far above what the bench sends, so nothing is throttled, while every request still runs the limiter's check. */
export const ROOMY = Object.freeze({
  RATE_LIMIT_MAX: '1000000000',
  LOGIN_RATE_LIMIT_MAX: '1000',
  // Tokens signed at the start must outlive the whole run.
  ACCESS_TOKEN_TTL_SECONDS: '7200',
});

export type Cleanup = (close: () => Promise<unknown>) => void;

export interface StartOptions {
  /** Instances of each service (1); peers then reach each other through the harness's balancers. */
  instances?: number;
  /** One instance each, peers calling each other straight, with no balancer in the bench's process. */
  direct?: boolean;
  /** More settings for every process (e.g. NODE_OPTIONS). */
  env?: Record<string, string>;
}

export async function startPlatform(mysqlAdminUrl: string, redisUrl: string, cleanup: Cleanup, opts: StartOptions = {}): Promise<Platform> {
  const dist = buildApps();
  cleanup(async () => rmSync(dist, { recursive: true, force: true }));
  prepareDatabases(mysqlAdminUrl, dist);
  const platform = await Platform.start({
    dist,
    instances: opts.instances ?? 1,
    direct: opts.direct,
    mysqlAdminUrl,
    redisUrl,
    env: { ...ROOMY, ...opts.env },
    appEnv: { 'gateway-sandbox': { GATEWAY_LATENCY_MS: '0', GATEWAY_FAILURE_RATE: '0' } },
  });
  cleanup(async () => {
    const problems = await platform.stop();
    if (problems.length > 0) console.error(`the platform's processes did not hold up:\n${problems.join('\n')}`);
  });
  return platform;
}

/** The one instance of an app: its own URL, not the balancer's. */
export function urlOf(platform: Platform, app: 'user-service' | 'order-service' | 'payment-service' | 'gateway-sandbox'): string {
  const [process] = platform.processes[app];
  if (!process) throw new Error(`${app} is not running`);
  return process.url;
}

/** `count` users registered and signed in over HTTP, each as a client of its own. */
export async function signUpUsers(platform: Platform, count: number): Promise<Account[]> {
  const topology = platform.topology();
  return Promise.all(Array.from({ length: count }, (_, i) => new Client(topology, { checkAnswers: false }).signUp(`Bench ${i + 1}`)));
}

/**
 * One more order-service, the same build, on a schema of the bench's own (the list
 * scenarios' 10k and 1M orders), under Redis prefixes of its own so that it shares no cache
 * entries and consumes none of the platform's events; started for its scenario only.
 */
export async function startOrderServiceOn(platform: Platform, databaseUrl: string, label: string): Promise<AppProcess> {
  const run = `${platform.prefixes.order}${label}:`;
  const env = platform.envOf('order-service', { DATABASE_URL: databaseUrl, REDIS_KEY_PREFIX: `${run}order:`, EVENTS_REDIS_KEY_PREFIX: `${run}events:` });
  const main = join(platform.opts.dist, 'order-service', 'main.js');
  const instance = new AppProcess('order-service', `order-service (${label})`, main, await freePort(), env);
  await instance.start(60_000);
  return instance;
}
