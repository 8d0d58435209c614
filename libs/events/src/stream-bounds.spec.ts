import type { KeySpace, RedisClient } from '@platform/redis';
import { closeAll, testKeys, testRedis } from '@platform/redis/testing';
import { eventually } from '@platform/testing';
import { createStreams, StreamFullError, type Consumer, type StreamEvent, type Streams } from './streams';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const waitFor = async (condition: () => boolean | Promise<boolean>) => expect(await eventually(async () => condition(), 5_000, 20)).toBe(true);

/** A stream stays bounded by length and by age, and what a consumer group has not handled is never trimmed. */
describe('stream bounds', () => {
  let redis: RedisClient;
  let keys: KeySpace;
  let streams: Streams;
  let running: Consumer[];
  const key = () => keys.stream('orders').stream;
  const ids = async () => (await redis.xrange(key(), '-', '+')).map(([id]) => id);
  /** Reads `count` entries as `group`, and acks the first `acked` of them. */
  async function read(group: string, count: number, acked: number): Promise<string[]> {
    const reply = (await redis.xreadgroup('GROUP', group, 'c', 'COUNT', count, 'STREAMS', key(), '>')) as [string, [string, string[]][]][];
    const got = (reply[0]?.[1] ?? []).map(([id]) => id);
    if (acked > 0) await redis.xack(key(), group, ...got.slice(0, acked));
    return got;
  }

  beforeAll(async () => {
    redis = await testRedis();
  });
  afterAll(() => closeAll(redis));
  beforeEach(() => {
    keys = testKeys('bounds');
    streams = createStreams({ client: redis, keys, maxLen: 10 });
    running = [];
  });
  afterEach(() => Promise.all(running.map((c) => c.stop())));

  it('when the stream holds maxLen entries no group has handled, then publish refuses with StreamFullError and keeps every one', async () => {
    await redis.xgroup('CREATE', key(), 'slow', '0', 'MKSTREAM');
    for (let i = 0; i < 10; i++) await streams.publish('orders', { i });
    const before = await ids();
    await expect(streams.publish('orders', { i: 10 })).rejects.toBeInstanceOf(StreamFullError);
    expect(await ids()).toEqual(before);
  });

  it('when the stream has no group yet, then nothing is trimmed to make room: a group created later reads it from the start', async () => {
    for (let i = 0; i < 10; i++) await streams.publish('orders', { i });
    await expect(streams.publish('orders', { i: 10 })).rejects.toBeInstanceOf(StreamFullError);
    expect(await redis.xlen(key())).toBe(10);
  });

  it('when the stream is full and every group is done with its oldest entries, then they give way, and the ones still pending or undelivered stay', async () => {
    await redis.xgroup('CREATE', key(), 'a', '0', 'MKSTREAM');
    await redis.xgroup('CREATE', key(), 'b', '0');
    for (let i = 0; i < 10; i++) await streams.publish('orders', { i });
    const all = await ids();
    await read('a', 10, 10);
    // Group b has acked four, holds two pending, and has not been given the last four.
    await read('b', 6, 4);
    const added = await streams.publish('orders', { i: 10 });
    expect(await ids()).toEqual([...all.slice(4), added]);
  });

  it('when a consumer trims, then entries every group is done with go once retentionMs old, pending ones stay, and old dead letters go', async () => {
    await redis.xgroup('CREATE', key(), 'other', '0', 'MKSTREAM');
    for (let i = 0; i < 6; i++) await streams.publish('orders', { i });
    const all = await ids();
    // The other group has handled the first three and holds the fourth.
    await read('other', 4, 3);
    await redis.xadd(keys.stream('orders').deadLetter, '1-1', 'data', '{}');
    const handled: StreamEvent[] = [];
    const consumer = streams.consume({
      stream: 'orders', group: 'fast', consumer: 'c1', blockMs: 50, retentionMs: 100, deadLetterRetentionMs: 1_000, trimEveryMs: 50,
      handler: async (e) => void handled.push(e),
    });
    running.push(consumer);
    await waitFor(() => handled.length === 6);
    await waitFor(async () => (await redis.xlen(key())) === 3);
    expect(await ids()).toEqual(all.slice(3));
    expect(await redis.xlen(keys.stream('orders').deadLetter)).toBe(0);
  });

  it('when every group has handled every entry, then the trim leaves the stream empty once they are retentionMs old', async () => {
    for (let i = 0; i < 3; i++) await streams.publish('orders', { i });
    const handled: StreamEvent[] = [];
    const consumer = streams.consume({
      stream: 'orders', group: 'fast', consumer: 'c1', blockMs: 50, retentionMs: 100, trimEveryMs: 50,
      handler: async (e) => void handled.push(e),
    });
    running.push(consumer);
    await waitFor(() => handled.length === 3);
    await waitFor(async () => (await redis.xlen(key())) === 0);
    // A later event is delivered as usual.
    await streams.publish('orders', { i: 3 });
    await waitFor(() => handled.length === 4);
  });

  it('when entries are handled but younger than retentionMs, then the trim keeps them', async () => {
    const handled: StreamEvent[] = [];
    const consumer = streams.consume({
      stream: 'orders', group: 'fast', consumer: 'c1', blockMs: 50, retentionMs: 60_000, trimEveryMs: 20,
      handler: async (e) => void handled.push(e),
    });
    running.push(consumer);
    await consumer.ready;
    for (let i = 0; i < 3; i++) await streams.publish('orders', { i });
    await waitFor(() => handled.length === 3);
    await sleep(200);
    expect(await redis.xlen(key())).toBe(3);
  });
});
