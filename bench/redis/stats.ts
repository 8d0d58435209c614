import type { Redis } from 'ioredis';

/** Server-side counters, read with one `INFO stats commandstats` on the probe connection. */
export interface ServerCounters {
  /** Read events on client sockets: one per request when the client awaits each answer, so one per round trip. */
  reads: number;
  /** Every command executed, those run by scripts included. */
  commands: number;
  /** Calls per command name (`evalsha`, `pttl`, …), script-run commands included. */
  calls: Map<string, number>;
}

export interface PerOp {
  roundTrips: number;
  commands: number;
  scriptCalls: number;
  /** e.g. `evalsha 1 · pttl 1 · set 1` */
  breakdown: string;
}

const SCRIPT_COMMANDS = new Set(['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall', 'fcall_ro']);
/** The probe's own commands, never the work's. */
const PROBE_COMMANDS = new Set(['info']);

export async function readCounters(probe: Redis): Promise<ServerCounters> {
  const info = (await probe.call('INFO', 'stats', 'commandstats')) as string;
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  const calls = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1] as string, Number(m[2]));
  return { reads: field('total_reads_processed'), commands: field('total_commands_processed'), calls };
}

/**
 * Exact per-operation counts: the work runs `n` operations one after another (each
 * awaited, so each request is its own read event), bracketed by counter reads. A read
 * taken just before the work, right after another, measures what one probe read costs
 * itself; that is subtracted.
 */
export async function countPerOp(probe: Redis, n: number, work: () => Promise<void>): Promise<PerOp> {
  const a = await readCounters(probe);
  const b = await readCounters(probe);
  await work();
  const c = await readCounters(probe);
  const probeReads = b.reads - a.reads;
  const probeCommands = b.commands - a.commands;
  const calls = [...c.calls]
    .filter(([name]) => !PROBE_COMMANDS.has(name))
    .map(([name, total]) => [name, total - (b.calls.get(name) ?? 0)] as const)
    .filter(([, delta]) => delta > 0)
    .sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]));
  const per = (x: number) => Math.round((x / n) * 1000) / 1000;
  return {
    roundTrips: per(c.reads - b.reads - probeReads),
    commands: per(c.commands - b.commands - probeCommands),
    scriptCalls: per(calls.filter(([name]) => SCRIPT_COMMANDS.has(name)).reduce((sum, [, d]) => sum + d, 0)),
    breakdown: calls.map(([name, d]) => `${name} ${per(d)}`).join(' · ') || '—',
  };
}
