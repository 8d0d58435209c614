import { Cluster, Redis } from 'ioredis';
import { createRedisClient, parseClusterNodes } from './client';

describe('parseClusterNodes', () => {
  it('when given host:port pairs, then it returns them in order', () => {
    expect(parseClusterNodes('10.0.0.1:7000,redis-b:7001')).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-b', port: 7001 },
    ]);
  });
});

describe('createRedisClient', () => {
  it('when REDIS_CLUSTER_NODES is set, then a Cluster client is made; otherwise a standalone one', () => {
    const standalone = createRedisClient({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 100 });
    const cluster = createRedisClient({ url: 'redis://127.0.0.1:1', clusterNodes: '127.0.0.1:1', commandTimeoutMs: 100 });
    try {
      expect(standalone).toBeInstanceOf(Redis);
      expect(cluster).toBeInstanceOf(Cluster);
    } finally {
      standalone.disconnect();
      cluster.disconnect();
    }
  });

  it('when Redis cannot be reached, then a command fails at once instead of queueing', async () => {
    const client = createRedisClient({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 200 });
    client.on('error', () => undefined);
    try {
      const started = Date.now();
      await expect(client.ping()).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      client.disconnect();
    }
  });
});
