// eslint-disable-next-line @nx/enforce-module-boundaries
import toolsGlobalTeardown from '../../tools/jest/global-teardown';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries
import type { LocalRedisCluster } from '../../libs/redis/test/redis-cluster';
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
  if (!platform) return;
  const problems = await platform.stop();
  writeLogs(platform);
  rmSync(platform.opts.dist, { recursive: true, force: true });
  const cluster = globalThis as { __e2eRedisCluster__?: LocalRedisCluster };
  await cluster.__e2eRedisCluster__?.stop();
  cluster.__e2eRedisCluster__ = undefined;
  await toolsGlobalTeardown();
  if (problems.length > 0) throw new Error(`e2e: the platform's processes did not hold up:\n${problems.join('\n')}`);
}

/** Where each pass leaves what its processes logged (LOG_LEVEL=warn: the warnings and errors); e2e/run.mjs prints them when the pass failed. */
const LOGS_DIR = join(__dirname, '..', 'artifacts', 'logs');

function writeLogs(platform: Platform): void {
  rmSync(LOGS_DIR, { recursive: true, force: true });
  mkdirSync(LOGS_DIR, { recursive: true });
  for (const p of platform.all) writeFileSync(join(LOGS_DIR, `${p.name.replace(/[^\w.-]+/g, '_')}.log`), `${p.output(1_000)}\n`);
}
