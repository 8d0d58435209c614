// Jest loads global setup outside its module system: relative imports only, no path aliases.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allowRootFromHost, initMysql, startMysql, startRedis, stopInfra, type Infra } from '../src/infra';
import { createLink, netnsUnavailable, type NetLink } from '../src/netns';
import { buildApps, prepareDatabases } from '../src/platform';
import { freePort } from '../src/processes';

/**
 * The chaos suite's own MariaDB and Redis (faults stop and flush them for real, so never the
 * machine's shared servers), its schemas, and the built apps. Each chaos file then starts
 * the platform it needs on them. Where the machine allows it (root, iproute2), the servers run
 * in a network namespace of the run's own behind a veth link that partition scenarios cut;
 * elsewhere on 127.0.0.1, and those scenarios are skipped, saying why.
 */
export default async function globalSetup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-'));
  const [mysqlPort, redisPort] = [await freePort(), await freePort()];
  let link: NetLink | undefined;
  let noLink = netnsUnavailable();
  if (!noLink) {
    try {
      link = createLink();
    } catch (err) {
      noLink = `the network namespace could not be made: ${(err as Error).message}`;
    }
  }
  const host = link?.nsAddr ?? '127.0.0.1';
  const infra: Infra = {
    dir,
    host,
    link,
    noLink,
    mysql: { port: mysqlPort, adminUrl: `mysql://root@${host}:${mysqlPort}` },
    redis: { port: redisPort, url: `redis://${host}:${redisPort}` },
  };
  (globalThis as { __chaosInfra__?: Infra }).__chaosInfra__ = infra;
  let dist: string;
  try {
    initMysql(infra);
    await startMysql(infra);
    allowRootFromHost(infra);
    await startRedis(infra);
    dist = buildApps();
    prepareDatabases(infra.mysql.adminUrl, dist);
  } catch (err) {
    // Jest runs no teardown after a failed setup: leave no server or namespace behind.
    await stopInfra(infra);
    throw err;
  }
  process.env['CHAOS_DIST'] = dist;
  process.env['CHAOS_INFRA'] = JSON.stringify(infra);
  process.env['CHAOS_FIGURES'] = join(dir, 'figures.jsonl');
  writeFileSync(process.env['CHAOS_FIGURES'], '');
  const where = link ? `in the network namespace ${link.ns} at ${host} (link ${link.hostAddr} <-> ${link.nsAddr})` : `on 127.0.0.1 (no namespace: ${noLink}; partition scenarios are skipped)`;
  process.stdout.write(`\nchaos: MariaDB on ${mysqlPort}, Redis on ${redisPort}, ${where}, in ${dir}\n`);
}
