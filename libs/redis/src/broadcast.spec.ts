import { randomUUID } from 'node:crypto';
import { closeAll, testKeys, testRedis } from '../test/redis';
import { createBroadcast, type Broadcast } from './broadcast';
import { createRedisClient, type RedisClient } from './client';

let a: RedisClient;
let b: RedisClient;
const started: Broadcast[] = [];
beforeAll(async () => {
  [a, b] = await Promise.all([testRedis(), testRedis()]);
});
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
  await closeAll(a, b);
});

async function listener(client: RedisClient, channel: string) {
  const heard: string[] = [];
  let resyncs = 0;
  const broadcast = createBroadcast({ client, channel, onMessage: (m) => heard.push(m), onResync: () => resyncs++ });
  started.push(broadcast);
  await broadcast.start();
  return { broadcast, heard, resyncs: () => resyncs };
}

const until = async (check: () => boolean, ms = 3_000) => {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return check();
};

describe('broadcast', () => {
  it('when one instance publishes, then every instance hears it, itself included, and other channels hear nothing', async () => {
    const channel = testKeys('bc').channel('status');
    const [one, two] = [await listener(a, channel), await listener(b, channel)];
    const elsewhere = await listener(b, testKeys('bc').channel('status'));
    await one.broadcast.publish('order-1');
    expect(await until(() => one.heard.length === 1 && two.heard.length === 1)).toBe(true);
    expect([one.heard, two.heard, elsewhere.heard]).toEqual([['order-1'], ['order-1'], []]);
  });

  // A standalone Redis: the subscriber's connection is found by its name (a cluster's is ioredis's own).
  const standalone = process.env['REDIS_CLUSTER_NODES'] ? it.skip : it;
  standalone('when the subscriber connection is dropped, then it subscribes again and says so (onResync), and hears what follows', async () => {
    const name = `bc-${randomUUID()}`;
    const named = createRedisClient({ url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', commandTimeoutMs: 2_000, connectionName: name });
    named.on('error', () => undefined);
    const channel = testKeys('bc').channel('status');
    const one = await listener(named, channel);
    const clients = (await a.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
    const ids = clients
      .split('\n')
      .filter((line) => line.includes(`name=${name} `))
      .map((line) => /id=(\d+)/.exec(line)?.[1])
      .filter((id): id is string => id !== undefined);
    expect(ids).toHaveLength(1);
    await a.call('CLIENT', 'KILL', 'ID', ids[0] as string);
    expect(await until(() => one.resyncs() >= 1)).toBe(true);
    await a.publish(channel, 'after');
    expect(await until(() => one.heard.includes('after'))).toBe(true);
    await one.broadcast.close();
    named.disconnect();
  });
});
