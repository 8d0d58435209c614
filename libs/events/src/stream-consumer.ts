import { closeRedisClient, RedisUnavailableError, type KeySpace, type RedisClient } from '@platform/redis';
import type { ChainableCommander } from 'ioredis';
import { streamScripts } from './stream-scripts';
import type { ConsumeOptions, Consumer, ConsumerStats, StreamLogger, StreamMetrics, STREAM_DEFAULTS } from './stream-types';

type Settings<T> = Record<keyof typeof STREAM_DEFAULTS, number> & ConsumeOptions<T> & { keys: ReturnType<KeySpace['stream']> };
type Deps = { client: RedisClient; conn: RedisClient; metrics: StreamMetrics; logger: StreamLogger };
type Entry = [id: string, fields: string[] | null];

/** The group or its stream was deleted (blocked readers get one of these): create it again. */
const GROUP_GONE = /NOGROUP|UNBLOCKED/;

/** A new connection is normally ready in milliseconds; a cluster needs a few round trips. */
const FIRST_CONNECT_WAIT_MS = 1_000;

const field = (fields: string[], name: string) => fields[fields.indexOf(name) + 1];

/**
 * One consumer loop: claim entries idle too long (work of crashed consumers and failed handlers),
 * then block for new ones. Entries are acked only after the handler succeeds; every Redis call of
 * the loop goes over `conn`, the dedicated connection, which stop() closes.
 *
 * A batch costs the loop one write and one round trip, its read: the XACK of the entries handled
 * goes in one pipeline with the loop's next command (the next read, or a claim), not on its own. It
 * is sent after the handlers, so an entry is still acked only once handled, and Redis runs it before
 * that command. The claim runs at the start and then every `min(blockMs, claimIdleMs)`, not before
 * every read (see `claimDue`).
 */
export function startConsumer<T>(s: Settings<T>, { client, conn, metrics, logger }: Deps): Consumer {
  const stats: ConsumerStats = { handled: 0, failed: 0, deadLettered: 0, errors: 0 };
  const labels = { stream: s.stream, group: s.group };
  const lastErrors = new Map<string, string>();
  let stopping = false;
  let handling = false;
  let groupCreated = false;
  let needGroup = true;
  let lastSeen: string | undefined;
  let cursor = '0-0';
  let nextClaimAt = 0;
  /** Entries handled and not yet acked: their XACK goes with the loop's next command (`withAcks`). */
  let acks: string[] = [];
  let nextTrimAt = 0;
  let wake = () => undefined as void;
  let markReady = () => undefined as void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  /**
   * A group new to the stream reads it from its start: events published before this group's
   * first consumer ever ran (a producer deployed first) are delivered, not skipped. When the
   * group exists, CREATE changes nothing. A re-creation (the stream or group was deleted
   * under a running consumer) resumes after the last entry seen.
   */
  async function ensureGroup(): Promise<void> {
    const from = groupCreated ? (lastSeen ?? '0') : '0';
    try {
      await conn.xgroup('CREATE', s.keys.stream, s.group, from, 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test(String(err))) throw err;
    }
    groupCreated = true;
    markReady();
  }

  /**
   * A stale entry waits claimIdleMs, then at most one claim interval, `min(blockMs, claimIdleMs)`,
   * plus the batch in hand: an idle loop never looked more often than once per block anyway, and a
   * short claimIdleMs is kept. A scan that stopped part way (COUNT) goes on at once.
   */
  function claimDue(): boolean {
    return cursor !== '0-0' || Date.now() >= nextClaimAt;
  }

  async function claimStale(): Promise<void> {
    nextClaimAt = Date.now() + Math.min(s.blockMs, s.claimIdleMs);
    const [next, entries] = await withAcks<[string, Entry[]]>((p) => p.xautoclaim(s.keys.stream, s.group, s.consumer, s.claimIdleMs, cursor, 'COUNT', s.batchSize));
    cursor = next;
    // Entries trimmed from the stream come back empty (6.2) or not at all (7.0).
    const live = entries.filter((e): e is [string, string[]] => Array.isArray(e?.[1]));
    if (live.length > 0) await handleBatch(live, await deliveryCounts(live.map(([id]) => id)));
  }

  /** XAUTOCLAIM does not report delivery counts; XPENDING per id does, in one pipelined round trip. */
  async function deliveryCounts(ids: string[]): Promise<Map<string, number>> {
    const pipeline = conn.pipeline();
    for (const id of ids) pipeline.xpending(s.keys.stream, s.group, id, id, 1, s.consumer);
    const replies = (await pipeline.exec()) ?? [];
    const counts = new Map<string, number>();
    for (const [err, rows] of replies) {
      if (err) throw err;
      const [row] = rows as [string, string, number, number][];
      if (row) counts.set(row[0], Number(row[3]));
    }
    return counts;
  }

  async function readNew(): Promise<void> {
    const args = ['GROUP', s.group, s.consumer, 'COUNT', s.batchSize, 'BLOCK', s.blockMs, 'STREAMS', s.keys.stream, '>'] as const;
    const reply = await withAcks<[string, Entry[]][] | null>((p) => p.xreadgroup(...args));
    const entries = (reply?.[0]?.[1] ?? []) as [string, string[]][];
    lastSeen = entries.at(-1)?.[0] ?? lastSeen;
    await handleBatch(entries, undefined);
  }

  /** Fresh entries have one delivery; a claimed entry no longer pending for us was taken by another consumer. */
  async function handleBatch(entries: [string, string[]][], counts: Map<string, number> | undefined): Promise<void> {
    handling = true;
    try {
      for (const [id, fields] of entries) {
        if (stopping) return;
        const deliveries = counts ? counts.get(id) : 1;
        if (deliveries === undefined) continue;
        if (deliveries > s.maxDeliveries) await deadLetter(id, fields, deliveries);
        else await handleOne(id, fields, deliveries);
      }
    } finally {
      handling = false;
    }
  }

  /**
   * `command` in one pipeline after the XACK of the entries handled since the last: one write, and
   * Redis acks them before it runs the command (a read may then block). An entry counts as handled
   * once its ack is answered, which comes before the command's answer; a failed ack keeps its
   * entries for the next command (an XACK again is harmless), and if it never lands they stay
   * pending and are claimed after claimIdleMs, as after a crash.
   */
  async function withAcks<R>(command: (pipeline: ChainableCommander) => void): Promise<R> {
    const pipeline = conn.pipeline();
    const ids = acks;
    acks = [];
    if (ids.length > 0) pipeline.xack(s.keys.stream, s.group, ...ids, (err) => (err ? acks.unshift(...ids) : acked(ids)));
    command(pipeline);
    const replies = (await pipeline.exec()) ?? [];
    const [err, reply] = replies.at(-1) ?? [new Error('stream consumer pipeline aborted')];
    if (err) throw err;
    return reply as R;
  }

  /** Entries left unacked when the loop ends (stop() came in between): their XACK goes alone. */
  async function flushAcks(): Promise<void> {
    if (acks.length === 0) return;
    const ids = acks;
    acks = [];
    try {
      await conn.xack(s.keys.stream, s.group, ...ids);
      acked(ids);
    } catch (err) {
      logger.warn({ err, entries: ids.length, ...labels }, 'stream entries handled but not acked; they will be delivered again');
    }
  }

  function acked(ids: string[]): void {
    for (const id of ids) lastErrors.delete(id);
    stats.handled += ids.length;
    metrics.events.inc({ ...labels, result: 'handled' }, ids.length);
  }

  async function handleOne(id: string, fields: string[], deliveries: number): Promise<void> {
    try {
      await s.handler({ id, stream: s.stream, data: JSON.parse(field(fields, 'data') ?? '') as T, deliveries });
    } catch (err) {
      stats.failed++;
      metrics.events.inc({ ...labels, result: 'failed' });
      if (lastErrors.size > 1_000) lastErrors.clear();
      lastErrors.set(id, String((err as Error)?.message ?? err));
      logger.warn({ err, id, deliveries, ...labels }, 'stream handler failed; the entry stays pending for a retry');
      return;
    }
    acks.push(id);
  }

  /** Copy and ack in one MULTI (both keys share the stream's hash tag), so the entry is never in both or neither. */
  async function deadLetter(id: string, fields: string[], deliveries: number): Promise<void> {
    const copy = ['data', field(fields, 'data') ?? '', 'id', id, 'group', s.group, 'deliveries', String(deliveries), 'error', lastErrors.get(id) ?? ''];
    const replies = await conn
      .multi()
      .xadd(s.keys.deadLetter, 'MAXLEN', '~', s.maxLen, '*', ...copy)
      .xack(s.keys.stream, s.group, id)
      .exec();
    const failed = replies?.find(([err]) => err);
    if (!replies || failed) throw failed?.[0] ?? new Error('dead-letter transaction aborted');
    lastErrors.delete(id);
    stats.deadLettered++;
    metrics.events.inc({ ...labels, result: 'dead_lettered' });
    logger.warn({ id, deliveries, ...labels }, 'stream entry moved to the dead-letter stream');
  }

  /** Resolves after ms, on stop(), or (untilReady) once the connection is ready. */
  function pause(ms: number, untilReady = false): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        conn.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      if (untilReady) conn.once('ready', done);
      wake = done;
    });
  }

  /**
   * Every trimEveryMs: entries every group is done with go once retentionMs old, dead letters once
   * deadLetterRetentionMs old (stream-scripts.ts). A failed trim is logged and tried at the next
   * one; it never holds up the events.
   */
  async function trimIfDue(): Promise<void> {
    if (Date.now() < nextTrimAt) return;
    nextTrimAt = Date.now() + s.trimEveryMs;
    try {
      await streamScripts(conn).platformStreamTrim(s.keys.stream, s.keys.deadLetter, s.retentionMs, s.deadLetterRetentionMs);
    } catch (err) {
      logger.warn({ err, ...labels }, 'stream trim failed; tried again at the next one');
    }
  }

  async function step(): Promise<void> {
    if (needGroup) await ensureGroup();
    needGroup = false;
    if (claimDue()) await claimStale();
    await trimIfDue();
    if (!stopping) await readNew();
  }

  async function loop(): Promise<void> {
    if (conn.status !== 'ready') await pause(FIRST_CONNECT_WAIT_MS, true);
    let failures = 0;
    while (!stopping) {
      try {
        if (conn.status !== 'ready') throw new Error('stream consumer connection is not ready');
        await step();
        failures = 0;
      } catch (err) {
        if (stopping) break;
        needGroup = true;
        if (GROUP_GONE.test(String(err))) continue;
        stats.errors++;
        metrics.errors.inc(labels);
        logger.warn({ err, ...labels }, 'stream consumer Redis error; backing off');
        // Ends early when the connection comes (back) up.
        await pause(Math.min(s.backoffMs * 2 ** failures++, s.maxBackoffMs), true);
      }
    }
    await flushAcks();
  }

  function stop(): Promise<void> {
    stopping = true;
    wake();
    // A blocked read or a back-off ends at once; a running handler is let finish and ack first, and
    // so are entries handled whose ack has not gone out yet.
    if (!handling && acks.length === 0) close();
    return done;
  }

  /** Once only: ioredis arms a 2 s destroy timer on every disconnect(), cleared only by a close still to come. */
  let closed = false;
  function close(): void {
    if (!closed) void closeRedisClient(conn, { now: true });
    closed = true;
  }

  async function lag(): Promise<{ pending: number; lag: number | null } | null> {
    let groups: unknown[][];
    try {
      groups = (await client.xinfo('GROUPS', s.keys.stream)) as unknown[][];
    } catch (err) {
      throw new RedisUnavailableError('streams.lag', { cause: err });
    }
    for (const flat of groups) {
      const info = Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]));
      if (info['name'] === s.group) return { pending: Number(info['pending']), lag: info['lag'] == null ? null : Number(info['lag']) };
    }
    return null;
  }

  const onAbort = () => void stop();
  s.signal?.addEventListener('abort', onAbort, { once: true });
  /**
   * A consumer that stops with nothing pending leaves the group, so that names unique per
   * process do not pile up there with every restart. One with pending entries stays: deleting
   * it would drop them, while staying lets another consumer claim them. Best effort, on the
   * shared client (the loop's connection is closed by now); the loop has ended, so nothing
   * new can be delivered to this name in between.
   */
  async function leaveGroup(): Promise<void> {
    try {
      const mine = (await client.xpending(s.keys.stream, s.group, '-', '+', 1, s.consumer)) as unknown[];
      if (mine.length === 0) await client.xgroup('DELCONSUMER', s.keys.stream, s.group, s.consumer);
    } catch {
      // Redis down or the group gone: the name stays, as before.
    }
  }

  const done = loop()
    .finally(() => {
      s.signal?.removeEventListener('abort', onAbort);
      close();
    })
    .then(() => (groupCreated ? leaveGroup() : undefined))
    .finally(markReady);
  if (s.signal?.aborted) void stop();

  return Object.freeze({ ready, done, stop, stats: () => ({ ...stats }), lag });
}
