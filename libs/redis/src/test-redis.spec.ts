import { Cluster, Redis } from 'ioredis';
import { closeAll, testKeys, testRedis } from '../test/redis';

/**
 * The suite runs twice: the `redis` project against REDIS_URL and the `redis-cluster`
 * project against a 3-master cluster (libs/redis/jest.cluster.config.cjs). This guards
 * the second run against silently testing a standalone server.
 */
describe('testRedis', () => {
  it('when the suite runs as the redis-cluster project, then clients reach a 3-master cluster; otherwise a standalone Redis', async () => {
    const client = await testRedis();
    try {
      if (process.env['REDIS_CLUSTER_NODES']) {
        expect(client).toBeInstanceOf(Cluster);
        expect((client as Cluster).nodes('master')).toHaveLength(3);
      } else {
        expect(client).toBeInstanceOf(Redis);
      }
    } finally {
      await closeAll(client);
    }
  });

  it('when two keys share a hash tag, then one MULTI can write both, on a cluster too', async () => {
    const client = await testRedis();
    const { value, generation } = testKeys('test-redis').cache('probe');
    try {
      const replies = await client.multi().set(value, 'v', 'PX', 5_000).set(generation, '1', 'PX', 5_000).exec();
      expect(replies).toEqual([
        [null, 'OK'],
        [null, 'OK'],
      ]);
    } finally {
      await closeAll(client);
    }
  });
});
