import { Redis } from 'ioredis';
import { createConnection, type Connection } from 'mysql2/promise';
import { sleep } from '../../e2e/src/processes';
import { readCounters } from '../redis/stats';

/**
 * Server-side work, from counters: Redis `INFO stats` (total_reads_processed: read events on
 * client sockets, i.e. round trips) and `INFO commandstats` (calls per command, those run
 * inside scripts included) on the bench's private redis-server, and MariaDB's global
 * `Questions`. The probe's own INFO and SHOW STATUS are taken out exactly (one read event,
 * one INFO call and one question per reading); what the idle platform does anyway (outbox
 * polls, stream reads, revocation checks) is measured before each scenario and taken out
 * at that rate.
 */

export interface Reading {
  at: number;
  /** Readings taken so far by this probe: the probe's own cost between two readings. */
  seq: number;
  reads: number;
  calls: Map<string, number>;
  questions: number;
}

/** Work between two readings (or per second, or per request). */
export interface Work {
  seconds: number;
  reads: number;
  commands: number;
  questions: number;
  calls: Map<string, number>;
}

export class Probe {
  private seq = 0;

  private constructor(
    private readonly redis: Redis,
    private readonly mysql: Connection,
  ) {}

  static async open(redisUrl: string, mysqlAdminUrl: string): Promise<Probe> {
    const redis = new Redis(redisUrl, { connectionName: 'bench-probe', maxRetriesPerRequest: 1 });
    const mysql = await createConnection({ uri: mysqlAdminUrl }).catch(async (err: unknown) => {
      redis.disconnect();
      throw err;
    });
    return new Probe(redis, mysql);
  }

  async read(): Promise<Reading> {
    const [redis, [rows]] = await Promise.all([readCounters(this.redis), this.mysql.query("SHOW GLOBAL STATUS LIKE 'Questions'")]);
    const questions = Number((rows as { Value: string }[])[0]?.Value);
    return { at: performance.now(), seq: ++this.seq, reads: redis.reads, calls: redis.calls, questions };
  }

  async mysqlVersion(): Promise<string> {
    const [rows] = await this.mysql.query('SELECT VERSION() AS v');
    return ((rows as { v: string }[])[0]?.v ?? 'unknown').replace(/-MariaDB.*$/, '');
  }

  async redisVersion(): Promise<string> {
    return /redis_version:(\S+)/.exec((await this.redis.call('INFO', 'server')) as string)?.[1] ?? 'unknown';
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.redis.quit(), this.mysql.end()]);
  }
}

/** What happened between two readings, the probe's own readings taken out. */
export function between(a: Reading, b: Reading): Work {
  const probes = b.seq - a.seq;
  const calls = new Map<string, number>();
  for (const [name, total] of b.calls) {
    const d = total - (a.calls.get(name) ?? 0);
    if (name !== 'info' && d > 0) calls.set(name, d);
  }
  const commands = [...calls.values()].reduce((s, n) => s + n, 0);
  return { seconds: (b.at - a.at) / 1000, reads: b.reads - a.reads - probes, commands, questions: b.questions - a.questions - probes, calls };
}

/** `w` scaled by `k` (per second: 1 / seconds; per request: 1 / requests). */
export function scaled(w: Work, k: number): Work {
  const calls = new Map([...w.calls].map(([name, n]) => [name, n * k] as const));
  return { seconds: w.seconds * k, reads: w.reads * k, commands: w.commands * k, questions: w.questions * k, calls };
}

/** `w` less what the idle platform does in as long (`idle` per second), never below zero. */
export function lessIdle(w: Work, idle: Work): Work {
  const t = w.seconds;
  const calls = new Map([...w.calls].map(([name, n]) => [name, Math.max(0, n - (idle.calls.get(name) ?? 0) * t)] as const));
  const less = (x: number, rate: number) => Math.max(0, x - rate * t);
  return { seconds: t, reads: less(w.reads, idle.reads), commands: less(w.commands, idle.commands), questions: less(w.questions, idle.questions), calls };
}

export function sum(works: Work[]): Work {
  const calls = new Map<string, number>();
  for (const w of works) for (const [name, n] of w.calls) calls.set(name, (calls.get(name) ?? 0) + n);
  const total = (f: (w: Work) => number) => works.reduce((s, w) => s + f(w), 0);
  return { seconds: total((w) => w.seconds), reads: total((w) => w.reads), commands: total((w) => w.commands), questions: total((w) => w.questions), calls };
}

/** Work per second of the platform left alone for `ms`. */
export async function idleRate(probe: Probe, ms: number): Promise<Work> {
  const a = await probe.read();
  await sleep(ms);
  const w = between(a, await probe.read());
  return scaled(w, 1 / w.seconds);
}

/**
 * Waits until Redis is no busier than `commandsPerSecond` over two quarter-seconds in a row,
 * or `maxMs`: until the work a round set off has run out (payment events relayed and
 * consumed after the last answer), or the events a fresh Redis is replayed from the outboxes
 * at start. Answers whether it got that quiet.
 */
export async function settle(probe: Probe, commandsPerSecond: number, maxMs: number): Promise<boolean> {
  const started = performance.now();
  let last = await probe.read();
  for (let quiet = 0; quiet < 2; ) {
    if (performance.now() - started > maxMs) return false;
    await sleep(250);
    const now = await probe.read();
    const w = between(last, now);
    quiet = w.commands <= commandsPerSecond * w.seconds ? quiet + 1 : 0;
    last = now;
  }
  return true;
}
