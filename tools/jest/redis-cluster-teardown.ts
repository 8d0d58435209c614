// eslint-disable-next-line @nx/enforce-module-boundaries
import type { LocalRedisCluster } from '../../libs/redis/test/redis-cluster';
import { describeKeysWithoutTtl, keysWithoutTtl, settleKeyCheck } from './keys-without-ttl';

/**
 * Global teardown of the `redis-cluster` project. Jest runs it once, after every test
 * file of the run has finished, so no test is still writing: the moment to check that
 * the suite left no key without a TTL on any master (the cluster is this run's alone,
 * so every key on it came from these tests). Then the cluster stops, whatever the
 * check found, and a failed check fails the jest run (see settleKeyCheck).
 */
export default async function redisClusterTeardown(): Promise<void> {
  const holder = globalThis as { __redisCluster__?: LocalRedisCluster };
  const cluster = holder.__redisCluster__;
  holder.__redisCluster__ = undefined;
  if (!cluster) return;
  const failure = await checkKeys(cluster).catch((err: Error) => err.message);
  await cluster.stop();
  settleKeyCheck('REDIS_CLUSTER', failure);
}

async function checkKeys(cluster: LocalRedisCluster): Promise<string | undefined> {
  // SCAN on a cluster node sees only that node's slots, so every master is scanned.
  const perMaster = await Promise.all(cluster.ports.map((port) => keysWithoutTtl(`redis://127.0.0.1:${port}`)));
  const written = perMaster.flat();
  return written.length > 0 ? describeKeysWithoutTtl(`the test Redis Cluster (${cluster.nodes})`, written) : undefined;
}
