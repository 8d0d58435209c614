import { DependencyUnavailableError } from '@platform/service-kit';
import { eventually, testKeyPrefix, type TestDatabase } from '@platform/testing';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { dataSource, outboxDatabase, published, readyRedis, sleep, unsentCount } from '../test/helpers';
import { eventStreams } from './config';
import { enqueue, enqueueAfterOneRowChanged } from './outbox';
import { startOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from './outbox-relay';
import { keySpace, type RedisClient } from '@platform/redis';

let db: TestDatabase;
let ds: DataSource;
let redis: RedisClient;
let prefix: string;
let relays: OutboxRelay[];
let warnings: string[];

beforeAll(async () => {
  db = await outboxDatabase('outbox');
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
  prefix = testKeyPrefix('outbox');
  relays = [];
  warnings = [];
});
afterEach(() => Promise.all(relays.map((r) => r.stop())));

/** A relay that polls once an hour: passes happen when a test asks. Its first pass has run when it returns. */
async function relay(opts: Partial<OutboxRelayOptions> = {}): Promise<OutboxRelay> {
  const started = startOutboxRelay({
    dataSource: () => ds,
    streams: eventStreams({ client: redis, prefix }),
    logger: { warn: (_obj, msg) => void warnings.push(msg) },
    pollMs: 3_600_000,
    ...opts,
  });
  relays.push(started);
  await started.runOnce();
  return started;
}

const events = () => published(redis, prefix, 'orders');

describe('enqueue', () => {
  it('when the transaction rolls back, then nothing is stored or published', async () => {
    const r = await relay();
    const attempt = ds.transaction(async (tx) => {
      await enqueue(tx, { stream: 'orders', payload: { n: 1 } });
      throw new Error('the change failed');
    });
    await expect(attempt).rejects.toThrow('the change failed');
    expect(await r.runOnce()).toBe(0);
    expect(await events()).toEqual([]);
    expect(await ds.query('SELECT * FROM outbox')).toEqual([]);
  });

  it('when the transaction commits, then the event is published once, as written, and marked sent', async () => {
    const r = await relay();
    const payload = { type: 'order.created', text: "😀 'quoted' \\ ünïcödé", amount: 9_007_199_254_740_991, nested: { ok: true } };
    await ds.transaction((tx) => enqueue(tx, { stream: 'orders', payload }));
    expect(await r.runOnce()).toBe(1);
    expect(await r.runOnce()).toBe(0);
    expect(await events()).toEqual([payload]);
    const [row] = (await ds.query('SELECT sent_at >= created_at AS ordered FROM outbox WHERE sent_at IS NOT NULL')) as { ordered: number | string }[];
    expect(Number(row?.ordered)).toBe(1);
  });

  it('when a dedupe key is enqueued twice, then the second answers false and one row is kept, in or out of a transaction', async () => {
    expect(await ds.transaction((tx) => enqueue(tx, { stream: 'orders', payload: { n: 1 }, dedupeKey: 'refund:p-1' }))).toBe(true);
    expect(await ds.transaction((tx) => enqueue(tx, { stream: 'orders', payload: { n: 2 }, dedupeKey: 'refund:p-1' }))).toBe(false);
    expect(await enqueue(ds, { stream: 'orders', payload: { n: 3 }, dedupeKey: 'refund:p-1' })).toBe(false);
    expect(await enqueue(ds, { stream: 'orders', payload: { n: 4 }, dedupeKey: 'refund:p-2' })).toBe(true);
    expect(await enqueue(ds, { stream: 'orders', payload: { n: 5 } })).toBe(true);
    expect(await enqueue(ds, { stream: 'orders', payload: { n: 6 } })).toBe(true);
    const rows = (await ds.query('SELECT payload FROM outbox ORDER BY id')) as { payload: string }[];
    expect(rows.map((r) => JSON.parse(r.payload).n)).toEqual([1, 4, 5, 6]);
  });

  it('when the insert fails for another reason, then it throws rather than answering false', async () => {
    await expect(enqueue(ds, { stream: 'x'.repeat(65), payload: {} })).rejects.toMatchObject({ code: 'ER_DATA_TOO_LONG' });
  });
});

describe('enqueueAfterOneRowChanged', () => {
  beforeAll(async () => {
    await ds.query('CREATE TABLE IF NOT EXISTS settled_things (id INT NOT NULL PRIMARY KEY, state VARCHAR(16) NOT NULL) ENGINE=InnoDB');
  });
  beforeEach(async () => {
    await ds.query('DELETE FROM settled_things');
    await ds.query("INSERT INTO settled_things (id, state) VALUES (1, 'open'), (2, 'open'), (3, 'open')");
  });

  /** A conditional UPDATE, then the event, as a one-trip transaction sends them: one after the other on one connection. */
  const settle = (where: string, n: number) =>
    ds.transaction(async (tx) => {
      await tx.query(`UPDATE settled_things SET state = 'done' WHERE ${where}`);
      const { sql, values } = enqueueAfterOneRowChanged({ stream: 'orders', payload: { n }, dedupeKey: `settled:${n}` });
      await tx.query(sql, values);
    });
  const stored = async () => ((await ds.query('SELECT payload FROM outbox ORDER BY id')) as { payload: string }[]).map((r) => JSON.parse(r.payload).n);

  it('when the statement before it changed one row, then the event is stored; when it changed none or two, then it is not', async () => {
    await settle("id = 1 AND state = 'open'", 1);
    await settle("id = 1 AND state = 'open'", 2); // already done: matched nothing
    await settle("id IN (2, 3) AND state = 'open'", 3); // two rows: not the one change the event reports
    expect(await stored()).toEqual([1]);
  });

  it('when its dedupe key is there already, then nothing is added and the transaction still commits', async () => {
    await enqueue(ds, { stream: 'orders', payload: { n: 9 }, dedupeKey: 'settled:9' });
    await settle("id = 1 AND state = 'open'", 9);
    expect(await stored()).toEqual([9]);
    expect(await ds.query("SELECT state FROM settled_things WHERE id = 1")).toEqual([{ state: 'done' }]);
  });
});

describe('startOutboxRelay', () => {
  it('when a batch holds runs of rows for several streams, then each run goes out as one publish, and every stream gets its events in id order', async () => {
    const order = ['orders', 'orders', 'orders', 'other', 'other', 'orders'];
    for (const [n, stream] of order.entries()) await enqueue(ds, { stream, payload: { n } });
    const base = eventStreams({ client: redis, prefix });
    const calls: string[] = [];
    await relay({ streams: { ...base, publishAll: (stream, events, opts) => (calls.push(`${stream} ${events.length}`), base.publishAll(stream, events, opts)) } });
    expect(calls).toEqual(['orders 3', 'other 2', 'orders 1']);
    expect(await events()).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }, { n: 5 }]);
    expect(await published(redis, prefix, 'other')).toEqual([{ n: 3 }, { n: 4 }]);
  });

  it('when rows are unsent, then the relay publishes them batch after batch, in id order, each to its own stream', async () => {
    for (let n = 1; n <= 5; n++) await enqueue(ds, { stream: n % 2 ? 'orders' : 'other', payload: { n } });
    const r = await relay({ batchSize: 2 });
    // The relay's first pass took two; a full batch sends the loop straight into the next one.
    await eventually(async () => (await unsentCount(ds)) === 0, 2_000, 20);
    expect(await r.runOnce()).toBe(0);
    expect(await events()).toEqual([{ n: 1 }, { n: 3 }, { n: 5 }]);
    expect(await published(redis, prefix, 'other')).toEqual([{ n: 2 }, { n: 4 }]);
  });

  it('when nudged after a commit, then the rows go out at once instead of at the next poll', async () => {
    const r = await relay();
    // Let the loop finish its start (a first retention purge) and fall asleep.
    await sleep(200);
    await ds.transaction((tx) => enqueue(tx, { stream: 'orders', payload: { n: 1 } }));
    const started = Date.now();
    r.nudge();
    expect(await eventually(async () => (await events()).length === 1, 2_000, 10)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('when commits keep nudging, then passes start at least minPassGapMs apart, each taking what was enqueued meanwhile, in order', async () => {
    let passes = 0;
    const r = await relay({
      minPassGapMs: 100,
      dataSource: () => {
        passes++;
        return ds;
      },
    });
    await sleep(200);
    passes = 0;
    const started = Date.now();
    // A commit and its nudge every 10 ms for a second: a pass per nudge would be about 100 passes.
    for (let n = 1; n <= 100; n++) {
      await enqueue(ds, { stream: 'orders', payload: { n } });
      r.nudge();
      await sleep(10);
    }
    expect(await eventually(async () => (await unsentCount(ds)) === 0, 2_000, 10)).toBe(true);
    const elapsed = Date.now() - started;
    expect(passes).toBeGreaterThanOrEqual(2);
    expect(passes).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 1);
    expect((await events()).map((e) => e['n'])).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('when the pool is not connected at start, then the relay logs it (once), retries, and relays once it is', async () => {
    let connected = false;
    await enqueue(ds, { stream: 'orders', payload: { n: 1 } });
    const r = startOutboxRelay({
      dataSource: () => {
        if (!connected) throw new DependencyUnavailableError('mysql');
        return ds;
      },
      streams: eventStreams({ client: redis, prefix }),
      logger: { warn: (_obj, msg) => void warnings.push(msg) },
      pollMs: 20,
    });
    relays.push(r);
    await eventually(async () => warnings.length > 0, 2_000, 10);
    await sleep(500);
    expect(await events()).toEqual([]);
    connected = true;
    expect(await eventually(async () => (await events()).length === 1, 10_000, 20)).toBe(true);
    expect(warnings).toEqual(['outbox relay pass failed; its rows stay unsent and are retried']);
  });

  it('when sent rows are older than the retention, then they are deleted in chunks; newer and unsent rows stay', async () => {
    const old = "('orders', '{}', UTC_TIMESTAMP(3) - INTERVAL 201 HOUR, UTC_TIMESTAMP(3) - INTERVAL 200 HOUR)";
    await ds.query(`INSERT INTO outbox (stream, payload, created_at, sent_at) VALUES ${Array(2_500).fill(old).join(', ')}`);
    await ds.query("INSERT INTO outbox (stream, payload, created_at, sent_at) VALUES ('orders', '{}', UTC_TIMESTAMP(3) - INTERVAL 2 HOUR, UTC_TIMESTAMP(3) - INTERVAL 1 HOUR)");
    await ds.query(`INSERT INTO outbox (stream, payload, created_at) VALUES ('orders', '{"n":1}', UTC_TIMESTAMP(3) - INTERVAL 300 HOUR)`);
    const registry = new Registry();
    await relay({ registry });
    expect(await eventually(async () => Number((await ds.query('SELECT COUNT(*) AS n FROM outbox'))[0].n) === 2, 5_000, 20)).toBe(true);
    expect(await unsentCount(ds)).toBe(0);
    expect(await events()).toEqual([{ n: 1 }]);
  });

  it('when rows were relayed, then the metrics count them by stream and the oldest unsent age is 0', async () => {
    const registry = new Registry();
    for (let n = 1; n <= 3; n++) await enqueue(ds, { stream: 'orders', payload: { n } });
    await relay({ registry });
    const text = await registry.metrics();
    expect(text).toMatch(/outbox_events_relayed_total\{stream="orders"\} 3/);
    expect(text).toMatch(/outbox_relay_errors_total 0/);
    expect(text).toMatch(/outbox_oldest_unsent_age_seconds 0/);
  });

  it('when Redis loses the stream and its marker (a FLUSHALL, a restart), then the rows sent within the window are published again, once', async () => {
    const r = await relay({ lossCheckMs: 0 });
    await ds.transaction((tx) => Promise.all([1, 2, 3].map((n) => enqueue(tx, { stream: 'orders', payload: { n } }))));
    expect(await r.runOnce()).toBe(3);
    // Redis still has them: passes publish nothing again.
    expect(await r.runOnce()).toBe(0);
    expect(await events()).toHaveLength(3);
    const keys = keySpace(prefix).stream('orders');
    await redis.del(keys.stream, keys.marker);
    expect(await r.runOnce()).toBe(3);
    expect((await events()).map((e) => e['n'])).toEqual([1, 2, 3]);
    expect(await r.runOnce()).toBe(0);
    expect(warnings).toContain('the stream lost its entries in Redis; publishing the recent events again');
  });

  it('when a relay starts on a Redis that lost the streams it had published to, then it publishes the recent rows again, and not the ones older than the window', async () => {
    await ds.transaction((tx) => Promise.all([1, 2].map((n) => enqueue(tx, { stream: 'orders', payload: { n } }))));
    await (await relay()).stop();
    await ds.query('UPDATE outbox SET sent_at = UTC_TIMESTAMP(3) - INTERVAL 2 HOUR WHERE JSON_EXTRACT(payload, "$.n") = 1');
    await redis.del(keySpace(prefix).stream('orders').stream, keySpace(prefix).stream('orders').marker);
    await relay({ replayWindowSeconds: 3_600, lossCheckMs: 0 });
    expect((await events()).map((e) => e['n'])).toEqual([2]);
  });

  it('when stopped, then runOnce refuses and no pass runs any more', async () => {
    const r = await relay({ pollMs: 10 });
    await r.stop();
    await expect(r.runOnce()).rejects.toThrow('stopped');
    await enqueue(ds, { stream: 'orders', payload: { n: 1 } });
    r.nudge();
    await sleep(100);
    expect(await unsentCount(ds)).toBe(1);
  });
});
