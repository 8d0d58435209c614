import { keySpace, type RedisClient } from '@platform/redis';
import { StreamFullError, type StreamEvent, type Streams } from './streams';
import { TcpProxy, eventually, testKeyPrefix, type TestDatabase } from '@platform/testing';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { dataSource, outboxDatabase, published, readyRedis, REDIS_URL, sleep, unsentCount } from '../test/helpers';
import { eventStreams } from './config';
import { enqueue } from './outbox';
import { startOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from './outbox-relay';

let db: TestDatabase;
let ds: DataSource;
let redis: RedisClient;
let prefix: string;
let streams: Streams;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  db = await outboxDatabase('outboxfail');
  ds = await dataSource(db.url);
  redis = await readyRedis();
});
afterAll(async () => {
  await ds.destroy();
  await redis.quit();
  await db.drop();
});
beforeEach(async () => {
  await ds.query('DELETE FROM outbox');
  prefix = testKeyPrefix('outboxfail');
  streams = eventStreams({ client: redis, prefix });
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function relay(opts: Partial<OutboxRelayOptions>): OutboxRelay {
  const started = startOutboxRelay({ dataSource: () => ds, streams, logger: { warn: () => undefined }, pollMs: 3_600_000, ...opts });
  cleanup.push(() => started.stop());
  return started;
}

/** `streams` with `before` run ahead of every publish (the relay's are `publishAll`s) and `after` for each event once it has succeeded. */
function watched(base: Streams, hooks: { before?: () => Promise<void>; after?: (event: object) => Promise<void> }): Streams {
  return {
    ...base,
    async publishAll(stream, events, opts) {
      await hooks.before?.();
      const ids = await base.publishAll(stream, events, opts);
      for (const event of events) await hooks.after?.(event);
      return ids;
    },
  };
}

async function enqueueMany(count: number): Promise<void> {
  const rows = Array.from({ length: count }, (_, i) => `('orders', '{"n":${i + 1}}', UTC_TIMESTAMP(3))`);
  await ds.query(`INSERT INTO outbox (stream, payload, created_at) VALUES ${rows.join(', ')}`);
}

describe('outbox relay under concurrency and failures', () => {
  it('when two relays run over 300 rows, then every event is on the stream exactly once, each relay publishing in id order', async () => {
    await enqueueMany(300);
    const seen: Record<'a' | 'b', number[]> = { a: [], b: [] };
    // A publish that takes a moment keeps each batch's rows locked while the other relay looks.
    const slowly = (name: 'a' | 'b') => watched(streams, { before: () => sleep(1), after: async (e) => void seen[name].push((e as { n: number }).n) });
    relay({ streams: slowly('a'), batchSize: 20, pollMs: 10 });
    relay({ streams: slowly('b'), batchSize: 20, pollMs: 10 });
    expect(await eventually(async () => (await unsentCount(ds)) === 0, 20_000, 50)).toBe(true);

    const ns = (await published(redis, prefix, 'orders')).map((e) => e['n'] as number);
    expect(ns).toHaveLength(300);
    expect(new Set(ns).size).toBe(300);
    expect(seen.a.length).toBeGreaterThan(0);
    expect(seen.b.length).toBeGreaterThan(0);
    for (const mine of [seen.a, seen.b]) expect(mine).toEqual([...mine].sort((x, y) => x - y));
  });

  it('when a relay is publishing a batch, then a service transaction enqueuing meanwhile does not wait for it', async () => {
    await enqueueMany(1);
    let publishing = () => undefined as void;
    const inPublish = new Promise<void>((resolve) => (publishing = resolve));
    const slow = watched(streams, {
      before: async () => {
        publishing();
        await sleep(500);
      },
    });
    const r = relay({ streams: slow });
    await inPublish;
    const started = Date.now();
    await ds.transaction((tx) => enqueue(tx, { stream: 'orders', payload: { n: 2 } }));
    expect(Date.now() - started).toBeLessThan(250);
    await r.runOnce();
    expect(await published(redis, prefix, 'orders')).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('when marking sent fails after publishing, then the row stays unsent and a later pass publishes it again (at least once)', async () => {
    const proxy = await TcpProxy.forUrl(db.url).start();
    cleanup.push(() => proxy.stop());
    const viaProxy = await dataSource(proxy.rewrite(db.url), 1_000);
    cleanup.push(() => viaProxy.destroy());
    const handled: StreamEvent[] = [];
    const consumer = streams.consume({ stream: 'orders', group: 'test', consumer: 'c1', blockMs: 100, handler: async (e) => void handled.push(e) });
    cleanup.push(() => consumer.stop());
    await consumer.ready;

    // The publish succeeds; then MySQL goes away before the UPDATE that marks the row sent.
    let cut = false;
    const cutting = watched(streams, {
      after: async () => {
        if (cut) return;
        cut = true;
        await proxy.stop();
      },
    });
    const r = relay({ dataSource: () => viaProxy, streams: cutting });
    await r.runOnce();
    await enqueue(ds, { stream: 'orders', payload: { eventId: 'e-1' } });
    await expect(r.runOnce()).rejects.toThrow();
    expect(await unsentCount(ds)).toBe(1);
    expect(await eventually(async () => handled.length === 1, 5_000, 20)).toBe(true);

    await proxy.start();
    // Until the server has noticed the cut connection, its transaction may still hold the row.
    expect(await eventually(async () => (await r.runOnce().catch(() => 0)) === 1, 5_000, 50)).toBe(true);
    expect(await unsentCount(ds)).toBe(0);
    expect(await eventually(async () => handled.length === 2, 5_000, 20)).toBe(true);
    expect(handled.map((e) => e.data)).toEqual([{ eventId: 'e-1' }, { eventId: 'e-1' }]);
  });

  it('when the relay is backing off after failed passes and a commit nudges it, then it tries again within the first step (200 ms), not at the back-off’s end', async () => {
    let down = true;
    let asked = 0;
    const r = relay({
      dataSource: () => {
        asked++;
        if (down) throw new Error('MySQL has not answered yet');
        return ds;
      },
    });
    // Failed passes at about 0, 0.2, 0.6 and 1.4 s; the wait after the fourth is 1.6 s.
    expect(await eventually(async () => asked === 4, 5_000, 5)).toBe(true);
    await sleep(100);
    down = false;
    await enqueueMany(1);
    const nudged = Date.now();
    r.nudge();
    expect(await eventually(async () => (await unsentCount(ds)) === 0, 1_000, 20)).toBe(true);
    expect(Date.now() - nudged).toBeLessThan(1_000);
    expect(await published(redis, prefix, 'orders')).toEqual([{ n: 1 }]);
  });

  it('when passes keep failing and commits keep nudging, then the relay still tries at most about once per first step', async () => {
    let asked = 0;
    const r = relay({
      dataSource: () => {
        asked++;
        throw new Error('MySQL is down');
      },
    });
    await sleep(1_500);
    const before = asked;
    const started = Date.now();
    // A nudge every 10 ms for a second: a pass per nudge would be about 100 passes.
    for (let i = 0; i < 100; i++) {
      r.nudge();
      await sleep(10);
    }
    const steps = (Date.now() - started) / 200;
    expect(asked - before).toBeGreaterThanOrEqual(1);
    expect(asked - before).toBeLessThanOrEqual(Math.ceil(steps) + 1);
  });

  it('when the stream is full of events its consumers have not handled, then the relay publishes up to the cap, keeps the rest unsent, and sends each once they catch up', async () => {
    const capped = eventStreams({ client: redis, prefix, maxLen: 5 });
    await redis.xgroup('CREATE', keySpace(prefix).stream('orders').stream, 'late', '0', 'MKSTREAM');
    await enqueueMany(8);
    const r = relay({ streams: capped });
    await expect(r.runOnce()).rejects.toBeInstanceOf(StreamFullError);
    // What went out before the stream was full is marked sent, so no retry publishes it again.
    await expect(r.runOnce()).rejects.toBeInstanceOf(StreamFullError);
    expect(await unsentCount(ds)).toBe(3);
    expect(await published(redis, prefix, 'orders')).toEqual([1, 2, 3, 4, 5].map((n) => ({ n })));

    const handled: number[] = [];
    const consumer = capped.consume({ stream: 'orders', group: 'late', consumer: 'c1', blockMs: 100, handler: async (e) => void handled.push((e.data as { n: number }).n) });
    cleanup.push(() => consumer.stop());
    expect(await eventually(async () => (await unsentCount(ds)) === 0 || (r.nudge(), false), 10_000, 100)).toBe(true);
    expect(await eventually(async () => handled.length === 8, 5_000, 20)).toBe(true);
    expect(handled).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('when Redis is unreachable, then rows stay unsent, failures are counted, logged once and backed off, and all go out in order once it returns', async () => {
    const proxy = await TcpProxy.forUrl(REDIS_URL()).start();
    cleanup.push(() => proxy.stop());
    const cutOff = await readyRedis(proxy.rewrite(REDIS_URL()));
    cleanup.push(async () => cutOff.disconnect());
    await proxy.stop();
    await enqueueMany(5);

    const registry = new Registry();
    const warnings: string[] = [];
    relay({ streams: eventStreams({ client: cutOff, prefix }), registry, pollMs: 20, logger: { warn: (_o, msg) => void warnings.push(msg) } });
    await sleep(1_500);
    const errors = Number((await registry.getSingleMetricAsString('outbox_relay_errors_total')).match(/^outbox_relay_errors_total (\d+)$/m)?.[1]);
    // Polling every 20 ms would fail ~75 times; back-off doubling from 200 ms fails about 4.
    expect(errors).toBeGreaterThanOrEqual(2);
    expect(errors).toBeLessThanOrEqual(6);
    expect(warnings).toHaveLength(1);
    expect(await unsentCount(ds)).toBe(5);
    expect(await registry.getSingleMetricAsString('outbox_oldest_unsent_age_seconds')).toMatch(/outbox_oldest_unsent_age_seconds (1|2)\.\d+/);

    await proxy.start();
    expect(await eventually(async () => (await unsentCount(ds)) === 0, 15_000, 50)).toBe(true);
    expect(await published(redis, prefix, 'orders')).toEqual([1, 2, 3, 4, 5].map((n) => ({ n })));
  });
});
