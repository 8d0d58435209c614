/**
 * setupFiles of the `redis-cluster` project only: points this test file's testRedis() at
 * the cluster that redis-cluster-setup.ts started. Each test file gets its own copy of
 * process.env, so the standalone projects running in the same worker are not affected.
 */
const nodes = process.env['REDIS_TEST_CLUSTER_NODES'];
if (!nodes) {
  throw new Error('REDIS_TEST_CLUSTER_NODES is not set: run the redis-cluster project through jest, whose globalSetup starts the cluster');
}
process.env['REDIS_CLUSTER_NODES'] = nodes;
