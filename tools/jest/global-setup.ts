// Jest loads global setup outside its module system, where the path aliases do not resolve.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { setupDatabases } from '../../libs/db/src/setup';
import { keysWithoutTtl, owesKeyCheck } from './keys-without-ttl';
import { findTestServers } from './test-servers';

/**
 * Integration tests talk to a real MySQL and a real Redis: the ones `npm start` uses (see
 * test-servers.ts for how they are found, and testcontainers as the fallback). Jest runs a
 * global setup once per run, however many projects share it; the URLs it sets reach the
 * workers, which inherit this process's environment.
 */
export default async function globalSetup(): Promise<void> {
  const servers = await findTestServers();
  process.env['MYSQL_ADMIN_URL'] = servers.mysqlAdminUrl;
  process.env['REDIS_URL'] = servers.redisUrl;
  (globalThis as { __testContainers__?: typeof servers.containers }).__testContainers__ = servers.containers;
  await setupDatabases(servers.mysqlAdminUrl);
  await recordKeysWithoutTtl();
}

/**
 * The keys without a TTL already on the test Redis before the run, so globalTeardown
 * blames this run only for the ones it wrote (a shared or long-lived test Redis may hold
 * leftovers of earlier runs; test keys carry a unique suffix, so a new one never hides
 * among them).
 */
async function recordKeysWithoutTtl(): Promise<void> {
  const holder = globalThis as { __keysWithoutTtlBefore__?: Set<string> };
  holder.__keysWithoutTtlBefore__ = new Set(await keysWithoutTtl(process.env['REDIS_URL'] as string));
  owesKeyCheck('REDIS_URL');
}
