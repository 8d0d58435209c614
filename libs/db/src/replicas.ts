import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { createDataSource, initializeDataSource, type DataSourceConfig } from './data-source';

/*
 * Read replicas (ADR 0020). Each instance measures how far behind each replica is with a
 * heartbeat of its own: every `heartbeatMs` it writes an increasing number to its row of
 * `replica_heartbeat` on the primary, remembering when it sent each one (its own monotonic clock),
 * and reads its row back from every replica. A replica that shows number n holds everything the
 * primary committed before n was sent, so it is at most `now - sent(n)` behind: an upper bound
 * that only grows until the next probe, needs no synchronised clocks, and is the same SQL on
 * MariaDB 10.11 and MySQL 8.4.
 */

export const HEARTBEAT_TABLE = 'replica_heartbeat';

/** One row per running instance; what each instance measures its replicas' lag with. */
export class ReplicaHeartbeat1765000000000 implements MigrationInterface {
  name = 'ReplicaHeartbeat1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE ${HEARTBEAT_TABLE} (instance CHAR(36) CHARACTER SET ascii NOT NULL, seq BIGINT UNSIGNED NOT NULL, beat_at DATETIME(3) NOT NULL, PRIMARY KEY (instance)) ENGINE=InnoDB`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE ${HEARTBEAT_TABLE}`);
  }
}

/**
 * "This user just wrote", shared by every service (libs/redis write-marks.ts keeps them in Redis):
 * a user marked within the last `ttlMs` reads from the primary.
 */
export interface WriteMarks {
  readonly ttlMs: number;
  mark(userId: string): Promise<void>;
  /** Rejects when it cannot tell; the read then goes to the primary. */
  marked(userId: string): Promise<boolean>;
}

export interface ReplicaLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface ReplicaSetOptions extends Omit<DataSourceConfig, 'url' | 'migrations'> {
  urls: readonly string[];
  /** A replica further behind than this is not read. */
  maxLagMs: number;
  /** How often the heartbeat is written and each replica probed; default min(250, maxLagMs / 4). */
  heartbeatMs?: number;
  /** The primary, or undefined while it is not connected. */
  primary: () => DataSource | undefined;
  log?: ReplicaLogger;
  registry?: Registry;
}

export interface ReplicaState {
  /** host:port, never the credentials. */
  name: string;
  up: boolean;
  /** How far behind it may be, in ms; Infinity when unknown (never probed, or too long ago). */
  lagMs: number;
}

export interface PickedReplica {
  ds: DataSource;
  /** The read failed on it: not used again until a probe succeeds. */
  failed(err: unknown): void;
}

export interface ReplicaSet {
  readonly size: number;
  readonly maxLagMs: number;
  /** A replica within the bound (round robin among them), or undefined. */
  pick(): PickedReplica | undefined;
  states(): ReplicaState[];
  /** One heartbeat and one probe of every replica, now (start-up and tests; the timer does the same). */
  beat(): Promise<void>;
  close(): Promise<void>;
}

/** Heartbeats older than this are forgotten: a replica showing one is as good as unknown. */
const REMEMBER_MS = 30_000;
/** Rows of instances gone for this long are deleted (once, at start). */
const FORGET_INSTANCES_AFTER = 'INTERVAL 1 DAY';

interface Replica {
  name: string;
  ds: DataSource;
  up: boolean;
  /** The heartbeat number last read from it. */
  seen: number;
  probing: boolean;
  connecting?: Promise<unknown>;
  loggedDown: boolean;
}

function nameOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || '3306'}`;
}

export function createReplicaSet(opts: ReplicaSetOptions): ReplicaSet {
  const instance = randomUUID();
  const heartbeatMs = opts.heartbeatMs ?? Math.min(250, Math.floor(opts.maxLagMs / 4));
  // Each replica's pool is the primary's in size and deadlines (DB_POOL_SIZE, DB_*_TIMEOUT_MS).
  const { poolSize, connectTimeoutMs, queryTimeoutMs, acquireTimeoutMs } = opts;
  const replicas: Replica[] = opts.urls.map((url) => ({
    name: nameOf(url),
    ds: createDataSource({ url, poolSize, connectTimeoutMs, queryTimeoutMs, acquireTimeoutMs }),
    up: false,
    seen: 0,
    probing: false,
    loggedDown: false,
  }));
  /** When each recent heartbeat number was sent, oldest first. */
  const sent = new Map<number, number>();
  let seq = 0;
  let writing = false;
  let cleaned = false;
  let next = 0;
  let closed = false;

  function lagOf(r: Replica, now = performance.now()): number {
    const at = sent.get(r.seen);
    return at === undefined ? Infinity : now - at;
  }

  function down(r: Replica, err: unknown, what: string): void {
    r.up = false;
    if (r.loggedDown) return;
    r.loggedDown = true;
    opts.log?.warn({ err, replica: r.name }, `MySQL replica ${what}; reading from the primary until it answers`);
  }

  async function writeBeat(): Promise<void> {
    const primary = opts.primary();
    if (writing || !primary?.isInitialized) return;
    writing = true;
    try {
      if (!cleaned) {
        await primary.query(`DELETE FROM ${HEARTBEAT_TABLE} WHERE beat_at < NOW(3) - ${FORGET_INSTANCES_AFTER}`);
        cleaned = true;
      }
      const n = ++seq;
      const now = performance.now();
      // Sent before the statement: whatever committed earlier is in every replica that shows n.
      sent.set(n, now);
      for (const [old, at] of sent) {
        if (now - at <= REMEMBER_MS) break;
        sent.delete(old);
      }
      await primary.query(
        `INSERT INTO ${HEARTBEAT_TABLE} (instance, seq, beat_at) VALUES (?, ?, NOW(3)) ON DUPLICATE KEY UPDATE seq = ?, beat_at = NOW(3)`,
        [instance, n, n],
      );
    } catch (err) {
      // The replicas' lag grows until a heartbeat lands again: they are skipped meanwhile.
      opts.log?.warn({ err }, 'replica heartbeat not written');
    } finally {
      writing = false;
    }
  }

  async function probe(r: Replica): Promise<void> {
    if (r.probing || closed) return;
    r.probing = true;
    try {
      if (!r.ds.isInitialized) {
        r.connecting ??= initializeDataSource(r.ds, opts).finally(() => (r.connecting = undefined));
        await r.connecting;
      }
      const rows = (await r.ds.query(`SELECT seq FROM ${HEARTBEAT_TABLE} WHERE instance = ?`, [instance])) as { seq: string | number }[];
      r.seen = rows[0] ? Number(rows[0].seq) : 0;
      if (!r.up && r.loggedDown) opts.log?.info({ replica: r.name }, 'MySQL replica answers again');
      r.up = true;
      r.loggedDown = false;
    } catch (err) {
      down(r, err, 'is not answering');
    } finally {
      r.probing = false;
    }
  }

  /** The heartbeat, then the probes: a replica that keeps up shows the number just written. */
  async function beat(): Promise<void> {
    await writeBeat();
    await Promise.all(replicas.map(probe));
  }

  const timer = setInterval(() => void beat(), heartbeatMs);
  timer.unref();

  const states = (): ReplicaState[] => replicas.map((r) => ({ name: r.name, up: r.up, lagMs: lagOf(r) }));

  if (opts.registry && !opts.registry.getSingleMetric('db_replica_lag_seconds')) {
    new Gauge({
      name: 'db_replica_lag_seconds',
      help: 'How far each MySQL replica may be behind the primary, as this instance measures it (+Inf: unknown or down)',
      labelNames: ['replica'],
      registers: [opts.registry],
      collect() {
        for (const s of states()) this.set({ replica: s.name }, s.up ? s.lagMs / 1000 : Infinity);
      },
    });
  }

  return Object.freeze({
    size: replicas.length,
    maxLagMs: opts.maxLagMs,
    pick(): PickedReplica | undefined {
      const now = performance.now();
      for (let i = 0; i < replicas.length; i++) {
        const r = replicas[(next + i) % replicas.length];
        if (!r?.up || !r.ds.isInitialized || lagOf(r, now) > opts.maxLagMs) continue;
        next = (next + i + 1) % replicas.length;
        return { ds: r.ds, failed: (err) => down(r, err, 'failed a read') };
      }
      return undefined;
    },
    states,
    beat,
    async close(): Promise<void> {
      closed = true;
      clearInterval(timer);
      await Promise.all(
        replicas.map(async (r) => {
          await r.connecting?.catch(() => undefined);
          if (r.ds.isInitialized) await r.ds.destroy();
        }),
      );
    },
  });
}

/** Where a read may go, and what it must not miss. */
export interface ReadOptions<T> {
  /** The users whose data this is, known before reading (a user's own list): if any wrote within the bound, the primary answers. */
  users?: readonly string[];
  /**
   * The users whose data the value read is (a row's owner), asked after reading it; if any wrote
   * within the bound, the primary answers again. `undefined`: the replica's answer is not one to
   * trust (the row is absent there, perhaps not yet), so the primary answers.
   */
  ownersOf?: (value: T) => readonly string[] | undefined;
}

export interface Reads {
  /**
   * Runs `read` on a replica where that is safe, else on the primary: never a read in a write's
   * transaction or one that guards money (those use the primary's DataSource directly).
   */
  run<T>(read: (db: DataSource) => Promise<T>, opts?: ReadOptions<T>): Promise<T>;
}

/**
 * Read-your-writes over replicas. A user's writes mark them (WriteMarks, before the answer and
 * before any cache invalidation); a mark lives `ttlMs`, longer than the lag bound. A read checks
 * the marks of the users it concerns, and reads a replica only if none is set and the check
 * answered within `ttlMs - maxLagMs` of picking the replica: then any write it could miss
 * committed more than `maxLagMs` before the pick, and the replica, at most that far behind,
 * holds it. That is also what makes a cache fill from a replica safe (ADR 0020).
 */
export function readRouter(primary: () => DataSource, replicas: ReplicaSet | undefined, marks: WriteMarks | undefined, registry?: Registry): Reads {
  const metric = registry?.getSingleMetric('db_reads_total') as Counter<'source' | 'reason'> | undefined;
  const reads =
    metric ??
    new Counter({
      name: 'db_reads_total',
      help: 'Reads that may go to a replica, by where they went and why',
      labelNames: ['source', 'reason'],
      registers: registry ? [registry] : [],
    });
  const count = (source: 'replica' | 'primary', reason: string) => reads.inc({ source, reason });

  async function anyMarked(marks: WriteMarks, users: readonly string[]): Promise<boolean> {
    try {
      return (await Promise.all(users.map((u) => marks.marked(u)))).some(Boolean);
    } catch {
      return true;
    }
  }

  return Object.freeze({
    async run<T>(read: (db: DataSource) => Promise<T>, opts: ReadOptions<T> = {}): Promise<T> {
      if (!replicas?.size || !marks) return read(primary());
      const onPrimary = (reason: string) => {
        count('primary', reason);
        return read(primary());
      };
      const picked = replicas.pick();
      if (!picked) return onPrimary('no-replica');
      const since = performance.now();
      const inTime = () => performance.now() - since <= marks.ttlMs - replicas.maxLagMs;
      if (opts.users?.length && (await anyMarked(marks, opts.users))) return onPrimary('wrote');
      if (!inTime()) return onPrimary('slow');
      let value: T;
      try {
        value = await read(picked.ds);
      } catch (err) {
        picked.failed(err);
        return onPrimary('replica-failed');
      }
      if (opts.ownersOf) {
        const owners = opts.ownersOf(value);
        if (!owners) return onPrimary('absent');
        if (owners.length && (await anyMarked(marks, owners))) return onPrimary('wrote');
        if (!inTime()) return onPrimary('slow');
      }
      count('replica', 'fresh');
      return value;
    },
  });
}
