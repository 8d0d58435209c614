import { connect, type Socket } from 'node:net';
import { Cluster, type Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { RedisUnavailableError, type KeySpace, type RedisClient } from '@platform/redis';
import { closeAll, deadRedis, testKeys, testRedis } from '@platform/redis/testing';
import { createStreams, StreamFullError, type ConsumeOptions, type Consumer, type StreamEvent, type Streams } from './streams';

const first = <T>(xs: T[]): T => {
  if (xs.length === 0) throw new Error('expected at least one element');
  return xs[0] as T;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/**
 * The commands that name `key`, in the order Redis ran them, with the connection that sent each
 * (MONITOR on every master, for a cluster run). A plain socket reads the MONITOR stream: ioredis's
 * monitor() can lose track of its replies when other clients' commands arrive with its OK (test
 * files running beside this one on the same Redis), and fails with "Command queue state error".
 */
async function monitorKey(client: RedisClient, key: string): Promise<{ stop: () => Promise<{ command: string; source: string }[]> }> {
  const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
  const seen: { command: string; source: string }[] = [];
  const quotedKey = `"${key}"`;
  const sockets = await Promise.all(
    nodes.map(
      ({ options }) =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect({ host: options.host, port: options.port ?? 6379 });
          let buffered = '';
          socket.setEncoding('utf8').on('data', (chunk: string) => {
            const lines = (buffered + chunk).split('\r\n');
            buffered = lines.pop() ?? '';
            for (const line of lines) {
              if (line === '+OK') resolve(socket);
              // +<time> [<db> <address>|lua] "<command>" "<arg>" …
              const m = /^\+\S+ \[(?:\d+ )?([^\]]+)\] "([^"]+)"/.exec(line);
              if (m && line.includes(quotedKey)) seen.push({ command: (m[2] as string).toLowerCase(), source: m[1] as string });
            }
          });
          socket.once('error', reject);
          socket.write('MONITOR\r\n');
        }),
    ),
  );
  return {
    /** Once a marker command sent now has been seen: everything sent before it has. */
    async stop() {
      await client.exists(key);
      await waitFor(() => seen.some((c) => c.command === 'exists'));
      for (const socket of sockets) socket.destroy();
      return seen.filter((c) => c.command !== 'exists');
    },
  };
}

describe('createStreams', () => {
  let clients: [RedisClient, RedisClient];
  let keys: KeySpace;
  let streams: Streams;
  let running: Consumer[];

  beforeAll(async () => {
    clients = [await testRedis(), await testRedis()];
  });
  afterAll(() => closeAll(...clients));
  beforeEach(() => {
    keys = testKeys('streams');
    streams = createStreams({ client: clients[0], keys });
    running = [];
  });
  afterEach(() => Promise.all(running.map((c) => c.stop())));

  /** A consumer on a second instance, with fast timings for tests. */
  function consume(handler: (e: StreamEvent) => Promise<void>, opts: Partial<ConsumeOptions<unknown>> = {}): Consumer {
    const other = createStreams({ client: clients[1], keys });
    const consumer = other.consume({ stream: 'orders', group: 'payments', consumer: 'c1', handler, blockMs: 100, claimIdleMs: 150, ...opts });
    running.push(consumer);
    return consumer;
  }

  const pendingCount = async () => Number(((await clients[0].xpending(keys.stream('orders').stream, 'payments')) as unknown[])[0]);

  it('when an event is published, then a consumer handles it once and acks it', async () => {
    const seen: StreamEvent[] = [];
    const consumer = consume(async (e) => void seen.push(e));
    await consumer.ready;
    const id = await streams.publish('orders', { orderId: 'o-1', status: 'PAID' });
    await waitFor(() => seen.length === 1);
    expect(first(seen)).toEqual({ id, stream: 'orders', data: { orderId: 'o-1', status: 'PAID' }, deliveries: 1 });
    await consumer.stop();
    expect(await pendingCount()).toBe(0);
    expect(consumer.stats()).toMatchObject({ handled: 1, failed: 0, deadLettered: 0 });
    expect(await consumer.lag()).toEqual({ pending: 0, lag: 0 });
    expect(await clients[0].pttl(keys.stream('orders').stream)).toBe(-1);
  });

  it('when entries come one at a time, then each is acked in one pipeline with the next read, and the claim runs at the start, not per read', async () => {
    const key = keys.stream('orders').stream;
    const monitor = await monitorKey(clients[0], key);
    // One claim interval, min(blockMs, claimIdleMs), is longer than the test.
    const consumer = consume(async () => undefined, { blockMs: 5_000, claimIdleMs: 60_000 });
    await consumer.ready;
    for (let n = 1; n <= 6; n++) {
      await streams.publish('orders', { n });
      await waitFor(() => consumer.stats().handled === n);
    }
    await consumer.stop();
    const seen = await monitor.stop();
    const source = seen.find((c) => c.command === 'xreadgroup')?.source;
    const loop = seen.filter((c) => c.source === source).map((c) => c.command);
    expect(loop.filter((c) => c === 'xautoclaim')).toHaveLength(1);
    expect(loop.filter((c) => c === 'xack')).toHaveLength(6);
    // Every XACK is followed by the read it went with.
    expect(loop.flatMap((c, i) => (c === 'xack' ? [loop[i + 1]] : []))).toEqual(Array(6).fill('xreadgroup'));
  });

  it('when new entries keep coming, then an entry a crashed consumer left is still claimed, within claimIdleMs and one interval', async () => {
    const key = keys.stream('orders').stream;
    await clients[0].xgroup('CREATE', key, 'payments', '$', 'MKSTREAM');
    const stale = await streams.publish('orders', { n: 0 });
    await clients[0].xreadgroup('GROUP', 'payments', 'crashed', 'COUNT', 10, 'STREAMS', key, '>');
    const crashedAt = Date.now();
    let claimedAt = 0;
    const consumer = consume(async (e) => void (e.id === stale && (claimedAt = Date.now())), { consumer: 'busy', blockMs: 100, claimIdleMs: 300 });
    await consumer.ready;
    for (let n = 1; !claimedAt && n <= 100; n++) {
      await streams.publish('orders', { n });
      await sleep(10);
    }
    expect(claimedAt).toBeGreaterThan(0);
    // 300 ms idle, then at most one interval (100 ms); the rest is this machine's slack.
    expect(claimedAt - crashedAt).toBeLessThan(1_000);
    await consumer.stop();
  });

  it('when events are published before the group exists, then its first consumer still gets them', async () => {
    const early = await streams.publish('orders', { orderId: 'o-early' });
    const seen: StreamEvent[] = [];
    const consumer = consume(async (e) => void seen.push(e));
    await waitFor(() => seen.length === 1);
    expect(first(seen)).toMatchObject({ id: early, data: { orderId: 'o-early' } });
    await consumer.ready;
    // A restart with the group in place picks up where the group is, not from the start again.
    await consumer.stop();
    const late = await streams.publish('orders', { orderId: 'o-late' });
    consume(async (e) => void seen.push(e));
    await waitFor(() => seen.length === 2);
    await sleep(300);
    expect(seen.map((e) => e.id)).toEqual([early, late]);
  });

  it('when a consumer stops with nothing pending, then it leaves the group; with an entry pending, it stays so the entry can be claimed', async () => {
    const names = async () =>
      ((await clients[0].xinfo('CONSUMERS', keys.stream('orders').stream, 'payments')) as unknown[][]).map((c) => c[c.indexOf('name') + 1]);
    const done = consume(async () => undefined, { consumer: 'leaves' });
    await done.ready;
    await streams.publish('orders', { n: 1 });
    await waitFor(() => done.stats().handled === 1);
    const stuck = consume(async () => {
      throw new Error('not now');
    }, { consumer: 'stays' });
    await stuck.ready;
    expect(await names()).toContain('leaves');
    await done.stop();
    await streams.publish('orders', { n: 2 });
    await waitFor(() => stuck.stats().failed === 1);
    await stuck.stop();
    expect(await names()).toEqual(['stays']);
    expect(await pendingCount()).toBe(1);
  });

  it('when several events are published together, then they are added in order; when the stream fills up on the way, the rest are not, and the error names those that were', async () => {
    const ids = await streams.publishAll('batched', [{ i: 0 }, { i: 1 }], { maxLen: 3 });
    expect(ids).toHaveLength(2);
    const refused = await streams.publishAll('batched', [{ i: 2 }, { i: 3 }, { i: 4 }], { maxLen: 3 }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StreamFullError);
    expect((refused as StreamFullError).appended).toHaveLength(1);
    const entries = await clients[0].xrange(keys.stream('batched').stream, '-', '+');
    expect(entries.map(([id, fields]) => [id, JSON.parse(fields[1] as string).i])).toEqual([
      [ids[0], 0],
      [ids[1], 1],
      [(refused as StreamFullError).appended[0], 2],
    ]);
    expect(await streams.publishAll('batched', [])).toEqual([]);
  });

  it('when publish is given maxLen, then it caps the stream in place of the streams’ own (stream-bounds.spec.ts has the rest)', async () => {
    for (let i = 0; i < 3; i++) await streams.publish('capped', { i }, { maxLen: 3 });
    await expect(streams.publish('capped', { i: 3 }, { maxLen: 3 })).rejects.toBeInstanceOf(StreamFullError);
    expect(await clients[0].xlen(keys.stream('capped').stream)).toBe(3);
  });

  it('when the handler fails, then the entry stays pending and is delivered again', async () => {
    const deliveries: number[] = [];
    const consumer = consume(async (e) => {
      deliveries.push(e.deliveries);
      if (deliveries.length === 1) throw new Error('transient');
    });
    await consumer.ready;
    await streams.publish('orders', { n: 1 });
    await waitFor(() => consumer.stats().handled === 1);
    expect(deliveries).toEqual([1, 2]);
    expect(consumer.stats().failed).toBe(1);
    await consumer.stop();
    expect(await pendingCount()).toBe(0);
  });

  it('when a consumer reads an entry and crashes, then another one claims it after claimIdleMs', async () => {
    const key = keys.stream('orders').stream;
    await clients[0].xgroup('CREATE', key, 'payments', '$', 'MKSTREAM');
    const id = await streams.publish('orders', { n: 1 });
    const read = await clients[0].xreadgroup('GROUP', 'payments', 'crashed', 'COUNT', 10, 'STREAMS', key, '>');
    expect(JSON.stringify(read)).toContain(id);
    const seen: StreamEvent[] = [];
    const started = Date.now();
    const consumer = consume(async (e) => void seen.push(e), { consumer: 'survivor', claimIdleMs: 200 });
    await waitFor(() => seen.length === 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(first(seen)).toMatchObject({ id, deliveries: 2 });
    await consumer.stop();
    expect(await pendingCount()).toBe(0);
  });

  it('when an entry fails more than maxDeliveries times, then it moves to the dead-letter stream and is acked', async () => {
    const registry = new Registry();
    let calls = 0;
    const consumer = createStreams({ client: clients[1], keys, registry }).consume({
      stream: 'orders', group: 'payments', consumer: 'c1', blockMs: 100, claimIdleMs: 100, maxDeliveries: 2,
      handler: async () => {
        calls++;
        throw new Error('poison');
      },
    });
    running.push(consumer);
    await consumer.ready;
    const id = await streams.publish('orders', { n: 1 });
    await waitFor(() => consumer.stats().deadLettered === 1);
    expect(calls).toBe(2);
    const dead = await clients[0].xrange(keys.stream('orders').deadLetter, '-', '+');
    expect(dead).toHaveLength(1);
    expect(first(dead)[1]).toEqual(['data', '{"n":1}', 'id', id, 'group', 'payments', 'deliveries', '3', 'error', 'poison']);
    expect(await pendingCount()).toBe(0);
    expect(await registry.getSingleMetricAsString('redis_stream_events_total')).toMatch(/result="dead_lettered"} 1/);
  });

  it('when the stream or the group is deleted while running, then the group is recreated and consumption continues', async () => {
    const seen: unknown[] = [];
    const consumer = consume(async (e) => void seen.push(e.data));
    await consumer.ready;
    await streams.publish('orders', { n: 1 });
    await waitFor(() => seen.length === 1);
    await clients[0].del(keys.stream('orders').stream);
    await streams.publish('orders', { n: 2 });
    await waitFor(() => seen.length === 2);
    await clients[0].xgroup('DESTROY', keys.stream('orders').stream, 'payments');
    await streams.publish('orders', { n: 3 });
    await waitFor(() => seen.length === 3);
    expect(seen).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(consumer.stats().errors).toBe(0);
    await consumer.stop();
    expect(await pendingCount()).toBe(0);
  });

  it('when stop is called during a blocking read, then it resolves at once', async () => {
    const consumer = consume(async () => undefined, { blockMs: 5_000 });
    await consumer.ready;
    await sleep(50);
    const started = Date.now();
    await consumer.stop();
    expect(Date.now() - started).toBeLessThan(200);
  });

  it('when stop is called while a handler runs, then the handler finishes and its entry is acked', async () => {
    let started = false;
    let finished = false;
    const controller = new AbortController();
    const consumer = consume(
      async () => {
        started = true;
        await sleep(300);
        finished = true;
      },
      { signal: controller.signal },
    );
    await consumer.ready;
    await streams.publish('orders', { n: 1 });
    await waitFor(() => started);
    controller.abort();
    await consumer.done;
    expect(finished).toBe(true);
    expect(consumer.stats().handled).toBe(1);
    expect(await pendingCount()).toBe(0);
  });

  it('when Redis is unreachable, then publish answers within 100 ms with a typed error', async () => {
    const dead = deadRedis();
    try {
      const started = Date.now();
      await expect(createStreams({ client: dead, keys }).publish('orders', { n: 1 })).rejects.toBeInstanceOf(RedisUnavailableError);
      expect(Date.now() - started).toBeLessThan(100);
    } finally {
      dead.disconnect();
    }
  });

  it('when Redis is unreachable, then the consumer counts errors, backs off, and still stops at once', async () => {
    const dead = deadRedis();
    try {
      const consumer = createStreams({ client: dead, keys }).consume({ stream: 'orders', group: 'g', consumer: 'c', handler: async () => undefined });
      await waitFor(() => consumer.stats().errors >= 1, 3_000);
      const started = Date.now();
      await consumer.stop();
      const fresh = createStreams({ client: dead, keys }).consume({ stream: 'orders', group: 'g', consumer: 'c2', handler: async () => undefined });
      await fresh.stop();
      expect(Date.now() - started).toBeLessThan(100);
    } finally {
      dead.disconnect();
    }
  });
});
