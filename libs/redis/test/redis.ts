import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { REQUEST_PATH_OPTIONS, closeRedisClient, createRedisClient, type RedisClient } from '../src/client';
import { keySpace, type KeySpace } from '../src/keys';

/**
 * A client on the test Redis, as a service instance would have one: the Redis Cluster
 * when REDIS_CLUSTER_NODES is set (the cluster run of this suite), else REDIS_URL.
 * Several clients stand in for several service instances.
 */
export async function testRedis(opts: { commandTimeoutMs?: number } = {}): Promise<RedisClient> {
  const client = createRedisClient({
    url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    clusterNodes: process.env['REDIS_CLUSTER_NODES'],
    commandTimeoutMs: opts.commandTimeoutMs ?? 2_000,
  });
  client.on('error', () => undefined);
  if (client.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('test Redis did not become ready in 10 s')), 10_000);
      client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  return client;
}

/** A client pointed at a port where nothing listens: every command fails at once. */
export function deadRedis(commandTimeoutMs = 100): RedisClient {
  // disconnectTimeout 0: disconnect() must not leave ioredis's 2 s timer holding jest open.
  const client = new Redis('redis://127.0.0.1:1', { ...REQUEST_PATH_OPTIONS, commandTimeout: commandTimeoutMs, disconnectTimeout: 0 });
  client.on('error', () => undefined);
  return client;
}

/** Keys of this test file's own, under a unique prefix. */
export function testKeys(label: string): KeySpace {
  return keySpace(`t:${label}:${Date.now().toString(36)}${randomBytes(4).toString('hex')}:`);
}

export function closeAll(...clients: RedisClient[]): Promise<unknown> {
  return Promise.all(clients.map((c) => closeRedisClient(c)));
}
