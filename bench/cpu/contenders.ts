import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Account } from '../../e2e/src/client';
import { Platform } from '../../e2e/src/platform';
import { ROOT, type AppName } from '../../e2e/src/processes';
import { adminQuery } from '@platform/testing';
import { ROOMY, signUpUsers, urlOf, type Cleanup } from '../http/platform';
import type { Build } from './builds';
import type { Watched } from './proc';
import type { Runner } from './rounds';

/**
 * One build's platform: the four apps as processes of the e2e harness, on MySQL schemas of
 * their own (`bench_a_order_service`, …, migrated by that build's own migrate scripts) and
 * under Redis prefixes of their own (the harness makes them per run), so that the two
 * platforms, up side by side on the same servers, never see each other's rows or events.
 * Peers call each other directly: no balancer of the harness's sits in between.
 */

const SERVICES = ['user-service', 'order-service', 'payment-service'] as const;
type Service = (typeof SERVICES)[number];

export interface Contender extends Runner {
  build: Build;
  platform: Platform;
  users: Account[];
  /** One bearer token per line, user i on line i + 1 (wrk's pooled scripts read it). */
  tokensFile: string;
  /** Each service's DATABASE_URL (admin credentials, the build's own schema). */
  databases: Record<Service, string>;
}

/** A schema of this name, emptied first (a run stopped hard leaves its schemas) and dropped at cleanup; its URL. */
export async function emptySchema(admin: URL, name: string, cleanup: Cleanup): Promise<string> {
  await adminQuery(`DROP DATABASE IF EXISTS \`${name}\``, admin);
  await adminQuery(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`, admin);
  cleanup(() => adminQuery(`DROP DATABASE IF EXISTS \`${name}\``, admin));
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

function migrate(build: Build, app: Service, databaseUrl: string): void {
  const done = spawnSync(process.execPath, [join(build.dist, app, 'migrate.js'), 'up'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
    encoding: 'utf8',
  });
  if (done.status !== 0) throw new Error(`${app} migrations of build ${build.label} failed:\n${done.stdout}${done.stderr}`);
}

export async function startContender(build: Build, admin: URL, redisUrl: string, users: number, dir: string, cleanup: Cleanup): Promise<Contender> {
  const databases = {} as Record<Service, string>;
  for (const app of SERVICES) {
    databases[app] = await emptySchema(admin, `bench_${build.label.toLowerCase()}_${app.replace('-', '_')}`, cleanup);
    migrate(build, app, databases[app]);
  }
  const appEnv: Partial<Record<AppName, Record<string, string>>> = { 'gateway-sandbox': { GATEWAY_LATENCY_MS: '0', GATEWAY_FAILURE_RATE: '0' } };
  for (const app of SERVICES) appEnv[app] = { DATABASE_URL: databases[app] };
  const platform = await Platform.start({
    dist: build.dist,
    instances: 1,
    direct: true,
    mysqlAdminUrl: admin.toString(),
    redisUrl,
    // As the e2e suite runs: no replay of the outboxes' past events into this run's fresh prefixes.
    env: { ...ROOMY, EVENTS_REPLAY_WINDOW_SECONDS: '1' },
    appEnv,
  });
  cleanup(async () => {
    const crashed = lastLinesOfCrashed(platform);
    const problems = await platform.stop();
    if (problems.length > 0) console.error(`build ${build.label}'s processes did not hold up:\n${problems.join('\n')}${crashed}`);
  });
  const accounts = await signUpUsers(platform, users);
  const tokensFile = join(dir, `tokens-${build.label}.txt`);
  writeFileSync(tokensFile, accounts.map((u) => `${u.accessToken}\n`).join(''));
  const c: Contender = {
    label: build.label,
    build,
    platform,
    users: accounts,
    tokensFile,
    databases,
    processes: () => processesOf(c),
    assertUp: () => assertUp(c),
    restart: () => restart(c),
    lastLines: (lines) => c.platform.all.map((p) => `${p.name}, its last lines:\n${p.output(lines)}`).join('\n'),
  };
  return c;
}

/** The four apps' processes as they are now (a restart gives them new pids). */
function processesOf(c: Contender): Watched[] {
  return c.platform.all.map((p) => ({ name: p.name, group: 'services', pid: p.pid as number }));
}

/**
 * Fresh processes of the same build, on the same ports, schemas, prefixes and signing key
 * (the users' tokens stay good, the cached order stays cached), started in the harness's
 * order: the sandbox and user-service, then order-service, then payment-service.
 */
async function restart(c: Contender): Promise<void> {
  const codes = await Promise.all(c.platform.all.map(async (p) => [p.name, await p.stop()] as const));
  const failed = codes.filter(([, code]) => code !== 0);
  if (failed.length > 0) throw new Error(`build ${c.build.label}: ${failed.map(([name, code]) => `${name} exited with ${code}`).join(', ')} on SIGTERM`);
  const { processes } = c.platform;
  for (const group of [['gateway-sandbox', 'user-service'], ['order-service'], ['payment-service']] as AppName[][]) {
    await Promise.all(group.flatMap((app) => processes[app].map((p) => p.start(60_000))));
  }
}

function lastLinesOfCrashed(platform: Platform): string {
  return platform.all
    .filter((p) => p.unexpectedExits.length > 0)
    .map((p) => `\n${p.name}, its last lines:\n${p.output(30)}`)
    .join('');
}

/** Stops the bench when a process of the build has exited by itself: its port may since be another's. */
function assertUp(c: Contender): void {
  const crashes = c.platform.crashes();
  if (crashes.length > 0) throw new Error(`build ${c.build.label}: ${crashes.join(', ')}${lastLinesOfCrashed(c.platform)}`);
}

export const ordersUrl = (c: Contender): string => urlOf(c.platform, 'order-service');
export const paymentsUrl = (c: Contender): string => urlOf(c.platform, 'payment-service');
