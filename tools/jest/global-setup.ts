// Jest loads global setup outside its module system, where the path aliases do not resolve.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { setupDatabases } from '../../libs/db/src/setup';
import { keysWithoutTtl, owesKeyCheck } from './keys-without-ttl';

/**
 * Integration tests talk to a real MySQL and a real Redis. When MYSQL_ADMIN_URL and
 * REDIS_URL are set (CI, or a developer's local servers) those are used; otherwise
 * MySQL 8.4 and Redis 7 containers are started with testcontainers (needs Docker).
 * Jest runs a global setup file once per run, however many projects share it; the URLs
 * it sets reach the workers, which inherit this process's environment.
 */
export default async function globalSetup(): Promise<void> {
  if (!process.env['MYSQL_ADMIN_URL'] || !process.env['REDIS_URL']) await startContainers();
  await setupDatabases(process.env['MYSQL_ADMIN_URL'] as string);
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

async function startContainers(): Promise<void> {
  // Loaded only here, so runs against given servers never touch Docker.
  const { MySqlContainer } = await import('@testcontainers/mysql');
  const { RedisContainer } = await import('@testcontainers/redis');
  const started: { stop(): Promise<unknown> }[] = [];
  try {
    if (!process.env['MYSQL_ADMIN_URL']) {
      const mysql = await new MySqlContainer('mysql:8.4').withRootPassword('root').start();
      started.push(mysql);
      process.env['MYSQL_ADMIN_URL'] = `mysql://root:root@${mysql.getHost()}:${mysql.getPort()}`;
    }
    if (!process.env['REDIS_URL']) {
      // Redis's default maxmemory-policy is noeviction, as production runs it.
      const redis = await new RedisContainer('redis:7').start();
      started.push(redis);
      process.env['REDIS_URL'] = redis.getConnectionUrl();
    }
  } catch (err) {
    throw new Error(
      'Integration tests need MySQL and Redis: set MYSQL_ADMIN_URL and REDIS_URL to running servers, ' +
        `or run Docker so testcontainers can start them (${(err as Error).message})`,
    );
  }
  (globalThis as { __testContainers__?: typeof started }).__testContainers__ = started;
}
