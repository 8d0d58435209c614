import { Cluster, Redis } from 'ioredis';
import { closeAll, testRedis } from '../test/redis';
import { createRedisClient, parseClusterNodes, REQUEST_PATH_OPTIONS, sentinelOptions } from './client';

describe('parseClusterNodes', () => {
  it('when given host:port pairs, then it returns them in order', () => {
    expect(parseClusterNodes('10.0.0.1:7000,redis-b:7001')).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-b', port: 7001 },
    ]);
  });
});

describe('sentinelOptions', () => {
  it("when sentinels are given, then the primary's credentials, database and TLS come from the URL, and the request-path options stay", () => {
    const options = sentinelOptions(
      { url: 'rediss://app:s%40cret@ignored:6379/2', sentinels: 's1:26379,s2:26380', sentinelName: 'orders', sentinelPassword: 'sp', commandTimeoutMs: 500 },
      { ...REQUEST_PATH_OPTIONS, commandTimeout: 500 },
    );
    expect(options).toMatchObject({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
      ],
      name: 'orders',
      role: 'master',
      username: 'app',
      password: 's@cret',
      db: 2,
      tls: {},
      enableTLSForSentinelMode: true,
      sentinelPassword: 'sp',
      sentinelCommandTimeout: 500,
      failoverDetector: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
    });
    const plain = sentinelOptions({ url: 'redis://127.0.0.1:6379', sentinels: 's1:26379', commandTimeoutMs: 500 }, REQUEST_PATH_OPTIONS);
    expect(plain).toMatchObject({ name: 'mymaster', password: undefined, db: 0 });
    expect(plain.tls).toBeUndefined();
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

(process.env['REDIS_CLUSTER_NODES'] ? describe.skip : describe)('auto-pipelining (standalone Redis)', () => {
  let client: Redis;
  beforeAll(async () => {
    client = (await testRedis()) as Redis;
  });
  afterAll(() => closeAll(client));

  /** Socket writes that reach the kernel. */
  function countFlushes(socket: Redis['stream']) {
    const internals = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
    const spies = [jest.spyOn(internals, '_write'), jest.spyOn(internals, '_writev')];
    return {
      count: () => spies.reduce((n, spy) => n + spy.mock.calls.length, 0),
      restore: () => spies.forEach((spy) => spy.mockRestore()),
    };
  }

  it('when 20 commands are sent in one tick, then ioredis sends them as one pipeline, one write, and all are answered', async () => {
    const flushes = countFlushes(client.stream);
    try {
      const replies = Array.from({ length: 20 }, (_, i) => client.echo(`m${i}`));
      expect(await Promise.all(replies)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
      expect(flushes.count()).toBe(1);
    } finally {
      flushes.restore();
    }
  });

  it('when one command is sent and awaited alone, then it is answered', async () => {
    await expect(client.echo('alone')).resolves.toBe('alone');
    await expect(client.echo('again')).resolves.toBe('again');
  });
});
