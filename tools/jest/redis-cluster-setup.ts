// Jest loads global setup outside its module system, where the path aliases do not resolve.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startRedisCluster, type LocalRedisCluster } from '../../libs/redis/test/redis-cluster';
import { owesKeyCheck } from './keys-without-ttl';

/**
 * Global setup of the `redis-cluster` project (libs/redis/jest.cluster.config.cjs): the
 * Redis suite runs a second time against a real 3-master Redis Cluster started here.
 *
 * The nodes go into REDIS_TEST_CLUSTER_NODES, not REDIS_CLUSTER_NODES: every jest worker
 * inherits this process's environment whatever project its test files belong to, and
 * testRedis() switches to the cluster on REDIS_CLUSTER_NODES. Only this project's
 * setupFiles entry (redis-cluster-env.ts) copies it across, into its own test files.
 */
export default async function redisClusterSetup(): Promise<void> {
  const cluster = await startRedisCluster();
  (globalThis as { __redisCluster__?: LocalRedisCluster }).__redisCluster__ = cluster;
  process.env['REDIS_TEST_CLUSTER_NODES'] = cluster.nodes;
  owesKeyCheck('REDIS_CLUSTER');
}
