// Jest loads global setup outside its module system: relative imports only, no path aliases.
import { join } from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries
import toolsGlobalSetup from '../../tools/jest/global-setup';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startRedisCluster, type LocalRedisCluster } from '../../libs/redis/test/redis-cluster';
import { publishDocuments } from './openapi-documents';
import { startPageServer, type PageServer } from './page-server';
import { buildApps, Platform, prepareDatabases, serviceDatabaseUrl, topologyFromBaseUrls, type PlatformOptions } from './platform';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startReplicatedMariadb, type ReplicatedMariadb } from '../../libs/testing/src/mariadb-replication';

/** Each service's served OpenAPI document, read once per run: every answer is checked against it. */
const OPENAPI_DIR = join(__dirname, '..', 'artifacts', 'openapi');

/**
 * With E2E_USER_URLS, E2E_ORDER_URLS, E2E_PAYMENT_URLS and E2E_SANDBOX_URL set, the suite
 * targets those running instances (docker compose up) and starts nothing. Otherwise it builds
 * the apps, prepares the schemas and starts E2E_INSTANCES (default 1) of each service as real
 * processes against MYSQL_ADMIN_URL and REDIS_URL (testcontainers when those are unset), or,
 * with E2E_REDIS_CLUSTER=1, against a 3-master Redis Cluster it starts from redis-server.
 * Test files find the platform in E2E_TOPOLOGY, which the workers inherit.
 *
 * It also serves the page of the browser's CORS test (e2e/contract/browser.e2e.ts) from the
 * start of the run, on the origin the services allow (CORS_ALLOWED_ORIGINS), held for the whole
 * run so no process takes its port: E2E_BROWSER_ORIGIN names it. Against running instances,
 * E2E_BROWSER_ORIGIN is given (an origin those allow) or the test is skipped.
 */
export default async function globalSetup(): Promise<void> {
  const given = topologyFromBaseUrls();
  if (given) {
    process.env['E2E_TOPOLOGY'] = JSON.stringify(given);
    await publishDocuments(given, OPENAPI_DIR);
    if (process.env['E2E_BROWSER_ORIGIN']) await servePage(process.env['E2E_BROWSER_ORIGIN']);
    return;
  }
  await toolsGlobalSetup();
  let mysqlAdminUrl = process.env['MYSQL_ADMIN_URL'] as string;
  const redisUrl = process.env['REDIS_URL'] as string;
  const appEnv: PlatformOptions['appEnv'] = {};
  if (process.env['E2E_MYSQL_REPLICA'] === '1') {
    // A MariaDB primary and GTID replica of the pass's own: the services read from the replica where safe.
    const replication = await startReplicatedMariadb();
    (globalThis as { __e2eReplication__?: ReplicatedMariadb }).__e2eReplication__ = replication;
    mysqlAdminUrl = replication.primary.adminUrl;
    for (const app of ['user-service', 'order-service', 'payment-service'] as const) {
      appEnv[app] = { DATABASE_REPLICA_URLS: serviceDatabaseUrl(replication.replica.adminUrl, app) };
    }
  }
  const dist = buildApps();
  try {
    prepareDatabases(mysqlAdminUrl, dist);
  } catch (err) {
    // Jest runs no teardown after a failed setup: leave no server behind.
    await (globalThis as { __e2eReplication__?: ReplicatedMariadb }).__e2eReplication__?.stop();
    throw err;
  }
  const instances = Number(process.env['E2E_INSTANCES'] ?? '1');
  if (!Number.isInteger(instances) || instances < 1) throw new Error(`E2E_INSTANCES must be a positive integer, not ${process.env['E2E_INSTANCES']}`);
  // Each run has Redis prefixes of its own, which the outbox relays cannot tell from a Redis that
  // lost its data: with the default window they would publish again every event the shared schemas
  // sent in the last 15 minutes (earlier runs', a bench's), and this run's events would queue behind
  // them past the contract's 2 s. The replay itself is the chaos suite's to exercise.
  const env: Record<string, string> = { EVENTS_REPLAY_WINDOW_SECONDS: '1', CORS_ALLOWED_ORIGINS: await servePage() };
  if (process.env['E2E_REDIS_CLUSTER'] === '1') {
    const cluster = await startRedisCluster();
    (globalThis as { __e2eRedisCluster__?: LocalRedisCluster }).__e2eRedisCluster__ = cluster;
    env['REDIS_CLUSTER_NODES'] = cluster.nodes;
  }
  const platform = await Platform.start({ dist, instances, mysqlAdminUrl, redisUrl, env, appEnv });
  (globalThis as { __e2ePlatform__?: Platform }).__e2ePlatform__ = platform;
  process.env['E2E_TOPOLOGY'] = JSON.stringify(platform.topology());
  await publishDocuments(platform.topology(), OPENAPI_DIR).catch(async (err: unknown) => {
    await platform.stop();
    throw err;
  });
  const names = platform.all.map((p) => `${p.name} ${p.url}`).join(', ');
  const cluster = env['REDIS_CLUSTER_NODES'];
  const replica = appEnv['order-service'] ? `, reading from a MySQL replica (${new URL(appEnv['order-service']['DATABASE_REPLICA_URLS'] ?? '').host})` : '';
  process.stdout.write(`\ne2e: ${names}${cluster ? `, on the Redis Cluster ${cluster}` : ''}${replica}\n`);
}

/** Starts the CORS test's page (on `origin`'s port, or a free one) and names its origin in E2E_BROWSER_ORIGIN. */
async function servePage(origin?: string): Promise<string> {
  const page = await startPageServer(origin);
  (globalThis as { __e2ePage__?: PageServer }).__e2ePage__ = page;
  process.env['E2E_BROWSER_ORIGIN'] = page.origin;
  return page.origin;
}
