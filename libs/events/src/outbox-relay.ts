import { counter, logThrottle } from '@platform/redis';
import { StreamFullError, type StreamLogger, type Streams } from './streams';
import { Gauge, type Registry } from 'prom-client';
import type { DataSource, EntityManager } from 'typeorm';

export const OUTBOX_RELAY_DEFAULTS = Object.freeze({
  pollMs: 200,
  /**
   * Passes start at least this far apart, nudged ones included: while commits keep coming, each
   * pass takes what they enqueued meanwhile, instead of a transaction per commit or two. An event
   * waits at most this much longer; a relay that has been idle this long starts at once.
   */
  minPassGapMs: 25,
  batchSize: 100,
  /** Sent rows are kept this long (for inspection), then deleted. */
  retentionHours: 168,
  /** Back-off after a failed pass doubles from this up to maxBackoffMs. */
  backoffMs: 200,
  maxBackoffMs: 5_000,
  purgeEveryMs: 60_000,
  /**
   * When Redis lost its data (its streams' markers are gone), the rows sent this recently are
   * published again: the ones consumers had not read yet were lost with the streams.
   */
  replayWindowSeconds: 900,
  /** How often the markers are checked (and extended). */
  lossCheckMs: 1_000,
  markerTtlSeconds: 7 * 86_400,
  /** Rows per DELETE, and DELETEs per purge at most: the rest waits for the next purge. */
  purgeChunk: 1_000,
  purgeMaxChunks: 50,
});

export interface OutboxRelayOptions {
  /** The service's DataSource; may throw until MySQL has answered once (libs/db's `app.db` does). */
  dataSource: () => DataSource;
  streams: Streams;
  logger: StreamLogger;
  /** Counters of relayed rows and failed passes, and the oldest unsent row's age (of the first relay on the registry). */
  registry?: Registry;
  pollMs?: number;
  minPassGapMs?: number;
  batchSize?: number;
  retentionHours?: number;
  replayWindowSeconds?: number;
  lossCheckMs?: number;
}

export interface OutboxRelay {
  /** One pass now, after any pass in flight: resolves to the rows relayed, rejects if the pass failed. */
  runOnce(): Promise<number>;
  /** Runs a pass at once rather than at the next poll (after failed passes: within backoffMs); call it after committing a transaction that enqueued. */
  nudge(): void;
  /** Waits for a pass in flight, then ends the loop. */
  stop(): Promise<void>;
}

type Row = { id: string; stream: string; payload: string; age_ms: string | number };

/**
 * READ COMMITTED: under REPEATABLE READ the locking read would also lock the gap after the
 * last unsent row, and every service transaction that enqueues would wait on the relay's
 * publishing. SKIP LOCKED lets relays of other instances take the next rows meanwhile.
 */
const ISOLATION = 'READ COMMITTED';
const ANY_UNSENT = 'SELECT 1 FROM outbox WHERE sent_at IS NULL LIMIT 1';
const SELECT_BATCH = `SELECT id, stream, payload, TIMESTAMPDIFF(MICROSECOND, created_at, UTC_TIMESTAMP(3)) DIV 1000 AS age_ms
  FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`;
const markSent = (count: number) => `UPDATE outbox SET sent_at = UTC_TIMESTAMP(3) WHERE id IN (${Array(count).fill('?').join(', ')})`;
const PURGE = 'DELETE FROM outbox WHERE sent_at < UTC_TIMESTAMP(3) - INTERVAL ? HOUR LIMIT ?';
const RECENT_STREAMS = 'SELECT DISTINCT stream FROM outbox WHERE sent_at >= UTC_TIMESTAMP(3) - INTERVAL ? SECOND';
const REPLAY = 'UPDATE outbox SET sent_at = NULL WHERE sent_at >= UTC_TIMESTAMP(3) - INTERVAL ? SECOND AND stream = ?';

/**
 * Publishes what services wrote to their outbox table, in id order, and marks it sent.
 * Each pass locks a batch of unsent rows, publishes them in id order, each run of rows for one
 * stream in one command (so a failure leaves the rest of the batch unpublished, and a stream gets
 * its events in id order), marks them sent and commits. A failed publish rolls the batch back: its rows stay unsent for a later pass.
 * A stream full of events its consumers have not handled takes nothing more; the rows from there
 * on stay unsent in the outbox table until they catch up (streams.ts): Redis stays bounded.
 * Delivery is at least once: a crash (or a lost connection) between publishing and the
 * commit publishes those rows again later, so consumers must be idempotent (eventId).
 */
export function startOutboxRelay(opts: OutboxRelayOptions): OutboxRelay {
  const s = { ...OUTBOX_RELAY_DEFAULTS, ...definedOnly(opts) };
  const metrics = relayMetrics(opts.registry, () => oldestUnsentAt);
  const throttle = logThrottle();
  let oldestUnsentAt: number | undefined;
  let tail: Promise<unknown> = Promise.resolve();
  let stopping = false;
  let nudged = false;
  let sleep: { wake(): void; nudge(): void } | undefined;

  /** Streams this outbox publishes to: those of its recent rows, then every one it relays to. */
  let streams: Set<string> | undefined;
  let nextLossCheckAt = 0;

  /**
   * Redis can lose its data (FLUSHALL, a restart without persistence, a failover to an empty
   * replica), or its last writes (a failover: replication is asynchronous). Entries consumers had
   * not read yet went with it, while their rows here say sent. Each stream has a marker with a TTL,
   * naming the primary it was written on: when it is gone or names another, the rows sent within the replay
   * window are marked unsent again, so that this pass and the next publish them again (at least
   * once: consumers are idempotent), and only then is the marker written back.
   */
  async function replayIfRedisLost(ds: DataSource): Promise<void> {
    if (Date.now() < nextLossCheckAt) return;
    nextLossCheckAt = Date.now() + s.lossCheckMs;
    streams ??= new Set(((await ds.query(RECENT_STREAMS, [s.replayWindowSeconds])) as { stream: string }[]).map((r) => r.stream));
    for (const stream of streams) {
      if (await s.streams.marker.touch(stream, s.markerTtlSeconds)) continue;
      const { affectedRows } = (await ds.query(REPLAY, [s.replayWindowSeconds, stream])) as { affectedRows: number };
      if (affectedRows > 0) {
        metrics.replayed.inc({ stream }, affectedRows);
        s.logger.warn({ stream, rows: affectedRows, windowSeconds: s.replayWindowSeconds }, 'the stream lost its entries in Redis; publishing the recent events again');
      }
      await s.streams.marker.set(stream, s.markerTtlSeconds);
    }
  }

  async function pass(): Promise<number> {
    const ds = s.dataSource();
    await replayIfRedisLost(ds);
    // Idle most of the time: one read instead of a transaction's four round trips.
    if (((await ds.query(ANY_UNSENT)) as unknown[]).length === 0) {
      oldestUnsentAt = undefined;
      return 0;
    }
    const { rows, full } = await ds.transaction(ISOLATION, (em) => publishBatch(em));
    // A stream new to this relay exists in Redis now: mark it, so a later loss shows.
    for (const stream of new Set(rows.map((r) => r.stream))) {
      if (streams && !streams.has(stream)) {
        await s.streams.marker.set(stream, s.markerTtlSeconds);
        streams.add(stream);
      }
    }
    for (const row of rows) metrics.relayed.inc({ stream: row.stream });
    // Its consumers are far behind: the rest stays unsent in the outbox, and the pass counts as failed (back-off).
    if (full) throw full;
    if (rows.length < s.batchSize) oldestUnsentAt = undefined;
    return rows.length;
  }

  /**
   * Publishes a locked batch in id order and marks what was published sent. A stream that is full
   * (StreamFullError: nothing was added) ends the batch there, and what was published before it is
   * still marked sent, or every retry would publish those rows again into the little room there is.
   * Any other failure rolls the whole batch back: whether its last publish landed is unknown.
   */
  async function publishBatch(em: EntityManager): Promise<{ rows: Row[]; full?: StreamFullError }> {
    const batch = (await em.query(SELECT_BATCH, [s.batchSize])) as Row[];
    if (batch[0]) oldestUnsentAt = Date.now() - Number(batch[0].age_ms);
    const rows: Row[] = [];
    let full: StreamFullError | undefined;
    // Each run of consecutive rows for one stream goes out in one command, in id order.
    for (let start = 0, end = 0; start < batch.length && !full; start = end) {
      const stream = (batch[start] as Row).stream;
      while (end < batch.length && (batch[end] as Row).stream === stream) end++;
      const run = batch.slice(start, end);
      try {
        await s.streams.publishAll(stream, run.map((row) => JSON.parse(row.payload) as object));
        rows.push(...run);
      } catch (err) {
        if (!(err instanceof StreamFullError)) throw err;
        rows.push(...run.slice(0, err.appended.length));
        full = err;
      }
    }
    if (rows.length > 0) await em.query(markSent(rows.length), rows.map((r) => r.id));
    if (full) oldestUnsentAt = Date.now() - Number((batch[rows.length] as Row).age_ms);
    return { rows, full };
  }

  /** One pass at a time per relay: the loop's and runOnce()'s queue up. */
  function exclusive(): Promise<number> {
    const run = tail.then(pass);
    tail = run.catch(() => undefined);
    return run;
  }

  let nextPurgeAt = 0;
  async function purgeIfDue(): Promise<void> {
    if (Date.now() < nextPurgeAt) return;
    nextPurgeAt = Date.now() + s.purgeEveryMs;
    try {
      const ds = s.dataSource();
      for (let i = 0; i < s.purgeMaxChunks; i++) {
        const { affectedRows } = (await ds.transaction(ISOLATION, (em) => em.query(PURGE, [s.retentionHours, s.purgeChunk]))) as { affectedRows: number };
        if (affectedRows < s.purgeChunk) break;
      }
    } catch (err) {
      warn(err, 'outbox retention delete failed; retried at the next purge');
    }
  }

  function warn(err: unknown, msg: string): void {
    const { log, suppressed } = throttle();
    if (log) s.logger.warn({ err, suppressed }, msg);
  }

  /**
   * Resolves after ms or on stop(). A poll ends on nudge(). A back-off does not, or a failing
   * dependency would be tried once per commit; but a nudge means a transaction just committed,
   * so the back-off ends within its first step (backoffMs) of the first nudge: a relay that
   * failed while the service started, or while Redis was away, does not hold the next events for
   * up to maxBackoffMs, and a relay that keeps failing still tries at most once per step. The
   * spacing between passes (minPassGapMs) ignores nudges: the next pass takes their rows.
   */
  function pause(ms: number, onNudge: 'wake' | 'shorten' | 'ignore'): Promise<void> {
    return new Promise((resolve) => {
      const until = Date.now() + ms;
      let timer = setTimeout(wake, ms);
      timer.unref();
      let shortened = false;
      function wake() {
        clearTimeout(timer);
        sleep = undefined;
        resolve();
      }
      function nudge() {
        if (onNudge === 'ignore') return;
        if (onNudge === 'wake') return wake();
        if (shortened || until - Date.now() <= s.backoffMs) return;
        shortened = true;
        clearTimeout(timer);
        timer = setTimeout(wake, s.backoffMs);
        timer.unref();
      }
      sleep = { wake, nudge };
    });
  }

  async function loop(): Promise<void> {
    let failures = 0;
    while (!stopping) {
      nudged = false;
      const startedAt = Date.now();
      let full = false;
      try {
        full = (await exclusive()) >= s.batchSize;
        failures = 0;
        await purgeIfDue();
      } catch (err) {
        failures++;
        metrics.errors.inc();
        warn(err, 'outbox relay pass failed; its rows stay unsent and are retried');
      }
      if (stopping) break;
      if (failures > 0) await pause(Math.min(s.backoffMs * 2 ** (failures - 1), s.maxBackoffMs), 'shorten');
      else if (!full) {
        if (!nudged) await pause(s.pollMs, 'wake');
        // Woken by a nudge (or nudged during the pass): the next pass keeps its distance.
        const gap = startedAt + s.minPassGapMs - Date.now();
        if (gap > 0 && !stopping) await pause(gap, 'ignore');
      }
    }
  }

  const done = loop();

  return Object.freeze({
    runOnce: () => (stopping ? Promise.reject(new Error('the outbox relay is stopped')) : exclusive()),
    nudge() {
      nudged = true;
      sleep?.nudge();
    },
    async stop() {
      stopping = true;
      sleep?.wake();
      await done;
      await tail;
    },
  });
}

function relayMetrics(registry: Registry | undefined, oldest: () => number | undefined) {
  const relayed = counter(registry, 'outbox_events_relayed_total', 'Outbox rows published to their stream', ['stream'] as const);
  const errors = counter(registry, 'outbox_relay_errors_total', 'Outbox relay passes that failed (MySQL or Redis)', [] as const);
  const replayed = counter(registry, 'outbox_events_replayed_total', 'Sent outbox rows published again because Redis lost the stream', ['stream'] as const);
  if (registry && !registry.getSingleMetric('outbox_oldest_unsent_age_seconds')) {
    new Gauge({
      name: 'outbox_oldest_unsent_age_seconds',
      help: 'Age of the oldest unsent outbox row the relay last saw; 0 once it found none left',
      registers: [registry],
      collect() {
        const at = oldest();
        this.set(at === undefined ? 0 : (Date.now() - at) / 1000);
      },
    });
  }
  return { relayed, errors, replayed };
}

/** `{ pollMs: undefined }` must not override a default. */
function definedOnly<T extends object>(opts: T): T {
  return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as T;
}
