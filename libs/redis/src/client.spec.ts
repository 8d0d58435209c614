import { Cluster, Redis } from 'ioredis';
import { closeAll, testRedis } from '../test/redis';
import { COALESCE_BATCH, coalesceWrites, createRedisClient, parseClusterNodes } from './client';

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

(process.env['REDIS_CLUSTER_NODES'] ? describe.skip : describe)('coalesceWrites (standalone Redis)', () => {
  let client: Redis;
  beforeAll(async () => {
    client = (await testRedis()) as Redis;
  });
  afterAll(() => closeAll(client));

  /** Socket writes that reach the kernel: corked writes are handed over together in one _writev. */
  function countFlushes(socket: Redis['stream']) {
    const internals = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
    const spies = [jest.spyOn(internals, '_write'), jest.spyOn(internals, '_writev')];
    return {
      count: () => spies.reduce((n, spy) => n + spy.mock.calls.length, 0),
      restore: () => spies.forEach((spy) => spy.mockRestore()),
    };
  }

  it('when 20 commands are sent in one tick, then they leave in at most 3 writes, and all are answered', async () => {
    const flushes = countFlushes(client.stream);
    try {
      const replies = Array.from({ length: 20 }, (_, i) => {
        coalesceWrites(client);
        return client.echo(`m${i}`);
      });
      expect(await Promise.all(replies)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
      // Batches of COALESCE_BATCH, the rest at the end of the tick.
      expect(flushes.count()).toBeLessThanOrEqual(Math.ceil(20 / COALESCE_BATCH));
    } finally {
      flushes.restore();
    }
  });

  it('when the same 20 commands are sent without it, then each is its own write (the baseline the test above beats)', async () => {
    const flushes = countFlushes(client.stream);
    try {
      await Promise.all(Array.from({ length: 20 }, (_, i) => client.echo(`m${i}`)));
      expect(flushes.count()).toBe(20);
    } finally {
      flushes.restore();
    }
  });

  it('when commands are sent from two callbacks of one event-loop turn, then they leave in one write', async () => {
    const flushes = countFlushes(client.stream);
    try {
      // Two immediates queued together run in one check phase of the loop, each its own callback (as two
      // requests' reads are in one poll phase). Two timers were not always due in the same turn: a
      // millisecond could pass between setting them (one clean-clone CI run saw 2 writes).
      const sent = await new Promise<Promise<string>[]>((resolve) => {
        const replies: Promise<string>[] = [];
        const send = (label: string) => () => {
          coalesceWrites(client);
          replies.push(client.echo(label));
          if (replies.length === 2) resolve(replies);
        };
        setImmediate(send('first'));
        setImmediate(send('second'));
      });
      expect(await Promise.all(sent)).toEqual(['first', 'second']);
      expect(flushes.count()).toBe(1);
    } finally {
      flushes.restore();
    }
  });

  it('when one command is sent and awaited alone, then it is not held back', async () => {
    coalesceWrites(client);
    await expect(client.echo('alone')).resolves.toBe('alone');
    coalesceWrites(client);
    await expect(client.echo('again')).resolves.toBe('again');
  });
});
