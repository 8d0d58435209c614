// Jest loads global setup outside its module system: relative imports only, no path aliases.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initMysql, startMysql, startRedis, type Infra } from '../src/infra';
import { buildApps, prepareDatabases } from '../src/platform';
import { freePort } from '../src/processes';

/**
 * The chaos suite's own MariaDB and Redis (faults stop and flush them for real, so never the
 * machine's shared servers), its schemas, and the built apps. Each chaos file then starts
 * the platform it needs on them.
 */
export default async function globalSetup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-'));
  const [mysqlPort, redisPort] = [await freePort(), await freePort()];
  const infra: Infra = {
    dir,
    mysql: { port: mysqlPort, adminUrl: `mysql://root@127.0.0.1:${mysqlPort}` },
    redis: { port: redisPort, url: `redis://127.0.0.1:${redisPort}` },
  };
  (globalThis as { __chaosInfra__?: Infra }).__chaosInfra__ = infra;
  initMysql(infra);
  await startMysql(infra);
  await startRedis(infra);
  const dist = buildApps();
  prepareDatabases(infra.mysql.adminUrl, dist);
  process.env['CHAOS_DIST'] = dist;
  process.env['CHAOS_INFRA'] = JSON.stringify(infra);
  process.env['CHAOS_FIGURES'] = join(dir, 'figures.jsonl');
  writeFileSync(process.env['CHAOS_FIGURES'], '');
  process.stdout.write(`\nchaos: MariaDB on ${mysqlPort}, Redis on ${redisPort}, in ${dir}\n`);
}
