import { config as loadDotenv } from 'dotenv';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
// Jest loads global setup outside its module system: relative imports only, no path aliases.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { mysqlFailure } from '../../libs/db/src/failure';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { redisFailure } from '../../libs/service-kit/src/redis-failure';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { DEFAULT_MYSQL_ADMIN_URL, DEFAULT_REDIS_URL } from '../../libs/service-kit/src/config';

export interface TestServers {
  mysqlAdminUrl: string;
  redisUrl: string;
  /** The containers started for this run, stopped by the global teardown. */
  containers: { stop(): Promise<unknown> }[];
}

interface Server {
  name: 'MYSQL_ADMIN_URL' | 'REDIS_URL';
  url: string;
  /** Set in the environment or in .env, rather than the default. */
  given: boolean;
  /** Why it cannot be used; undefined when it answered. */
  problem?: { failure: string; message: string };
}

const PROBE_TIMEOUT_MS = 3_000;

/**
 * The MySQL and Redis the tests run against, found as the services find theirs: the
 * environment, then `.env`, then the defaults `npm start` uses (root on 127.0.0.1:3306,
 * Redis on 127.0.0.1:6379). Where a default does not answer and Docker runs, testcontainers
 * starts MySQL 8.4 or Redis 7 in its place. A server that was named but cannot be used, or a
 * default that answers but refuses, stops the run with the reason: it is never silently swapped.
 */
export async function findTestServers(): Promise<TestServers> {
  const env: Record<string, string | undefined> = { ...process.env };
  loadDotenv({ processEnv: env as Record<string, string>, quiet: true });
  const servers: Server[] = [
    { name: 'MYSQL_ADMIN_URL', url: env['MYSQL_ADMIN_URL'] ?? DEFAULT_MYSQL_ADMIN_URL, given: env['MYSQL_ADMIN_URL'] !== undefined },
    { name: 'REDIS_URL', url: env['REDIS_URL'] ?? DEFAULT_REDIS_URL, given: env['REDIS_URL'] !== undefined },
  ];
  const [mysql, redis] = servers as [Server, Server];
  [mysql.problem, redis.problem] = await Promise.all([probeMysql(mysql.url), probeRedis(redis.url)]);

  const unusable = servers.filter((s) => s.problem && (s.given || s.problem.failure !== 'not answering'));
  if (unusable.length > 0) throw new Error(explain(unusable, false));
  const missing = servers.filter((s) => s.problem);
  const containers = missing.length > 0 ? await startContainers(missing) : [];
  return { mysqlAdminUrl: mysql.url, redisUrl: redis.url, containers };
}

async function probeMysql(url: string): Promise<Server['problem']> {
  try {
    const conn = await createConnection({ uri: url, connectTimeout: PROBE_TIMEOUT_MS });
    await conn.end();
    return undefined;
  } catch (err) {
    return { failure: mysqlFailure(err), message: (err as Error).message };
  }
}

async function probeRedis(url: string): Promise<Server['problem']> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: PROBE_TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (err) {
    return { failure: redisFailure(err), message: (err as Error).message };
  } finally {
    client.disconnect();
  }
}

/** Starts a container for each default that did not answer; without Docker, says what to do instead. */
async function startContainers(missing: Server[]): Promise<TestServers['containers']> {
  // Loaded only here, so runs against running servers never touch Docker.
  const { getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch {
    throw new Error(explain(missing, true));
  }
  const started: TestServers['containers'] = [];
  for (const server of missing) {
    if (server.name === 'MYSQL_ADMIN_URL') {
      const { MySqlContainer } = await import('@testcontainers/mysql');
      const mysql = await new MySqlContainer('mysql:8.4').withRootPassword('root').start();
      started.push(mysql);
      server.url = `mysql://root:root@${mysql.getHost()}:${mysql.getPort()}`;
    } else {
      // Redis's default maxmemory-policy is noeviction, as production runs it.
      const { RedisContainer } = await import('@testcontainers/redis');
      const redis = await new RedisContainer('redis:7').start();
      started.push(redis);
      server.url = redis.getConnectionUrl();
    }
  }
  return started;
}

/** A URL as it may be shown: without its password. */
function shown(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString().replace(/\/$/, '');
}

function explain(servers: Server[], noDocker: boolean): string {
  const lines = servers.map(
    (s) =>
      `  - ${s.name === 'MYSQL_ADMIN_URL' ? 'MySQL' : 'Redis'} at ${shown(s.url)} (${s.given ? `${s.name}` : 'the default'}): ` +
      `${s.problem?.failure} (${s.problem?.message})`,
  );
  return [
    'The integration tests need MySQL and Redis, and cannot use these:',
    ...lines,
    noDocker ? 'and Docker is not running, so testcontainers cannot start them. Any one of these will do:' : 'Any one of these will do:',
    `  1. run MySQL 8.4 or MariaDB 10.11 on 127.0.0.1:3306 (root, empty password) and Redis 7 on 127.0.0.1:6379, the defaults npm start uses;`,
    '  2. name running servers in MYSQL_ADMIN_URL and REDIS_URL, in the environment or in .env (see .env.example);',
    '  3. unset them and run Docker: the tests then start MySQL and Redis containers themselves (testcontainers).',
  ].join('\n');
}
