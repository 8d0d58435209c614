import { closeAll, testKeys, testRedis } from '../test/redis';
import type { RedisClient } from './client';
import { lossMarker } from './loss-marker';

let client: RedisClient;
beforeAll(async () => {
  client = await testRedis();
});
afterAll(() => closeAll(client));

describe('loss marker', () => {
  it('when written, then it holds the primary replication ID and touch extends it', async () => {
    const key = testKeys('marker').revocationMarker();
    const marker = lossMarker(client, key);
    expect(await marker.touch(60)).toBe(false);
    expect(await marker.current()).toEqual({ state: 'gone' });
    await marker.set(60);
    const value = await client.get(key);
    expect(value).toMatch(/^[0-9a-f]{40}$/);
    expect(await marker.current()).toEqual({ state: 'current', value });
    await client.expire(key, 5);
    expect(await marker.touch(60)).toBe(true);
    expect(await client.ttl(key)).toBeGreaterThan(5);
  });

  it('when it names another primary (a failover) or is gone (a flush), then it counts as gone until written again', async () => {
    const key = testKeys('marker').revocationMarker();
    const marker = lossMarker(client, key);
    await marker.set(60);
    await client.set(key, '0123456789abcdef0123456789abcdef01234567', 'EX', 60);
    expect(await marker.touch(60)).toBe(false);
    expect(await marker.current()).toEqual({ state: 'elsewhere' });
    await marker.set(60);
    expect(await marker.touch(60)).toBe(true);
    await client.del(key);
    expect(await marker.touch(60)).toBe(false);
    expect(await marker.current()).toEqual({ state: 'gone' });
  });
});
