// eslint-disable-next-line @nx/enforce-module-boundaries
import toolsGlobalTeardown from '../../tools/jest/global-teardown';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries
import type { LocalRedisCluster } from '../../libs/redis/test/redis-cluster';
// eslint-disable-next-line @nx/enforce-module-boundaries
import type { ReplicatedMariadb } from '../../libs/testing/src/mariadb-replication';
import type { PageServer } from './page-server';
import type { Platform } from './platform';

/**
 * Every process the setup started must still be up after the suite (none crashed) and must
 * exit 0 on SIGTERM; then the Redis key check of the integration suites runs (every key the
 * services wrote carries a TTL). A failure fails the run.
 */
export default async function globalTeardown(): Promise<void> {
  const page = globalThis as { __e2ePage__?: PageServer };
  await page.__e2ePage__?.close();
  page.__e2ePage__ = undefined;
  const holder = globalThis as { __e2ePlatform__?: Platform };
  const platform = holder.__e2ePlatform__;
  holder.__e2ePlatform__ = undefined;
  if (!platform) return stopReplication();
  const replicaProblems = await replicaReadProblems(platform);
  const problems = [...replicaProblems, ...(await platform.stop())];
  writeLogs(platform);
  rmSync(platform.opts.dist, { recursive: true, force: true });
  const cluster = globalThis as { __e2eRedisCluster__?: LocalRedisCluster };
  await cluster.__e2eRedisCluster__?.stop();
  cluster.__e2eRedisCluster__ = undefined;
  await stopReplication();
  await toolsGlobalTeardown();
  if (problems.length > 0) throw new Error(`e2e: the platform's processes did not hold up:\n${problems.join('\n')}`);
}

/** The pass's MariaDB primary and replica, when it ran with one (E2E_MYSQL_REPLICA). */
async function stopReplication(): Promise<void> {
  const holder = globalThis as { __e2eReplication__?: ReplicatedMariadb };
  const replication = holder.__e2eReplication__;
  holder.__e2eReplication__ = undefined;
  await replication?.stop();
}

/**
 * With a read replica, the pass must have read from it: each service's instances together served
 * some reads from the replica (db_reads_total), or the pass proved nothing about replicas.
 */
async function replicaReadProblems(platform: Platform): Promise<string[]> {
  if (!(globalThis as { __e2eReplication__?: ReplicatedMariadb }).__e2eReplication__) return [];
  const problems: string[] = [];
  for (const app of ['user-service', 'order-service', 'payment-service']) {
    const reads: Record<string, number> = {};
    for (const p of platform.all.filter((q) => q.app === app)) {
      const text = await (await fetch(`${p.url}/metrics`)).text();
      for (const [, labels = '', n] of text.matchAll(/^db_reads_total\{([^}]*)\} (\d+)$/gm)) {
        const key = `${/source="(\w+)"/.exec(labels)?.[1]}/${/reason="([\w-]+)"/.exec(labels)?.[1]}`;
        reads[key] = (reads[key] ?? 0) + Number(n);
      }
    }
    const replica = reads['replica/fresh'] ?? 0;
    process.stdout.write(`\ne2e: ${app}'s reads a replica could serve: ${JSON.stringify(reads)}\n`);
    if (replica === 0) problems.push(`${app}: no read went to the MySQL replica`);
  }
  return problems;
}

/** Where each pass leaves what its processes logged (LOG_LEVEL=warn: the warnings and errors); e2e/run.mjs prints them when the pass failed. */
const LOGS_DIR = join(__dirname, '..', 'artifacts', 'logs');

function writeLogs(platform: Platform): void {
  rmSync(LOGS_DIR, { recursive: true, force: true });
  mkdirSync(LOGS_DIR, { recursive: true });
  for (const p of platform.all) writeFileSync(join(LOGS_DIR, `${p.name.replace(/[^\w.-]+/g, '_')}.log`), `${p.output(1_000)}\n`);
}
