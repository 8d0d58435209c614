// eslint-disable-next-line @nx/enforce-module-boundaries
import toolsGlobalTeardown from '../../tools/jest/global-teardown';
import { rmSync } from 'node:fs';
// eslint-disable-next-line @nx/enforce-module-boundaries
import type { LocalRedisCluster } from '../../libs/testing/src/redis-cluster';
import type { Platform } from './platform';

/**
 * Every process the setup started must still be up after the suite (none crashed) and must
 * exit 0 on SIGTERM; then the Redis key check of the integration suites runs (every key the
 * services wrote carries a TTL). A failure fails the run.
 */
export default async function globalTeardown(): Promise<void> {
  const holder = globalThis as { __e2ePlatform__?: Platform };
  const platform = holder.__e2ePlatform__;
  holder.__e2ePlatform__ = undefined;
  if (!platform) return;
  const problems = await platform.stop();
  rmSync(platform.opts.dist, { recursive: true, force: true });
  const cluster = globalThis as { __e2eRedisCluster__?: LocalRedisCluster };
  await cluster.__e2eRedisCluster__?.stop();
  cluster.__e2eRedisCluster__ = undefined;
  await toolsGlobalTeardown();
  if (problems.length > 0) throw new Error(`e2e: the platform's processes did not hold up:\n${problems.join('\n')}`);
}
