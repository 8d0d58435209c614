import { loadavg } from 'node:os';
import { between, lessIdle, type Probe, type Work } from '../http/counters';
import { errorsOf, runWrk, type WrkResult, type WrkSettings } from '../http/wrk';
import { fmt } from '../redis/measure';
import { cpuBetween, cpuNow, type Watched } from './proc';
import type { Target } from './scenarios';

/**
 * A scenario in interleaved rounds: every entry warms up, then round 1 of each entry in turn,
 * round 2 of each, … each a wrk run of the same length against one entry while the others stay
 * up, idle. A round's CPU is read from /proc for the loaded entry's processes and the two
 * servers, from just before wrk starts until its answers' work is done (at once, or when the
 * payments' orders read PAID); its counters are the servers' deltas, the idle rate taken out.
 * bench:cpu's entries are two builds of the platform (A, B); bench:compare's are the platform
 * and the reference apps.
 */

/** What is loaded in a round: a build of the platform, or a reference app. */
export interface Runner {
  /** e.g. `A`, `B`, `platform`, `usual recipe`. */
  label: string;
  /** Its processes as they are now (a restart gives them new pids). */
  processes(): Watched[];
  /** Throws when one of its processes has exited by itself. */
  assertUp(): void;
  /** Fresh processes, same ports and data (bench:cpu's BENCH_RESTART=1). */
  restart?(): Promise<void>;
  /** The last lines of its processes' output, for an error message. */
  lastLines(lines: number): string;
}

/** One contender of a scenario: what runs and where wrk points, under a label of its own. */
export interface Entry {
  label: string;
  runner: Runner;
  target: Target;
  /** wrk's connections for this entry (default: the settings'). */
  connections?: number;
}

export interface Round {
  label: string;
  /**
   * The requests the figures are divided by. wrk's count leaves out the requests still in flight
   * when it stops, whose work is in the round, so where there is an exact count it is used: the
   * payments whose orders turned PAID during the round, else the load's 2xx answers counted by
   * the platform's own metrics, else wrk's count.
   */
  answers: number;
  /** wrk's count of 2xx answers. */
  wrkAnswers: number;
  perSecond: number;
  /**
   * Where the work a request sets off is waited for (the payments, until their orders read
   * PAID): the requests done over the wrk run and the wait for the last of them, end to end.
   */
  donePerSecond?: number;
  /** CPU microseconds by process name: the entry's processes, `redis-server` and `mariadbd`. */
  cpu: Map<string, number>;
  /** Redis commands and SQL statements, what everything idle does anyway taken out. */
  work: Work;
  /** Requests the platform's processes served to each other and to the sandbox provider (see Target.internalCalls). */
  internalCalls?: number;
  /** The same by `<app> <method> <route> <status>`, those that moved. */
  callsByRoute?: Map<string, number>;
  /** The 1-minute load average at the round's end. */
  load: number;
}

export interface Outcome {
  name: string;
  /** In the order run: entry 1, entry 2, …, entry 1, entry 2, … */
  rounds: Round[];
}

export interface RoundSettings {
  rounds: number;
  warmupSeconds: number;
  wrk: WrkSettings;
  /**
   * Fresh processes of every runner before every round (and a warm-up of each): a process
   * stays a few per cent cheaper or dearer than another of the same build for its whole life,
   * which rounds on the same processes cannot average out.
   */
  restart: boolean;
}

export class Rounds {
  constructor(
    private readonly s: RoundSettings,
    /** redis-server and mariadbd. */
    private readonly servers: Watched[],
    private readonly probe: Probe,
    /** Per second, everything left alone. */
    private readonly idle: Work,
  ) {}

  async run(name: string, entries: Entry[]): Promise<Outcome> {
    console.log(name);
    const rounds: Round[] = [];
    for (let n = 1; n <= this.s.rounds; n++) {
      if (n === 1 || this.s.restart) await this.warmUp(entries, n);
      for (const e of entries) rounds.push(await this.round(e, n));
    }
    return { name, rounds };
  }

  private async warmUp(entries: Entry[], n: number): Promise<void> {
    if (this.s.restart) {
      // Which runner starts first takes turns.
      const runners = [...new Set(entries.map((e) => e.runner))];
      for (const r of n % 2 === 1 ? runners : runners.reverse()) await r.restart?.();
    }
    for (const e of entries) {
      const warm = await this.wrk(e, this.s.warmupSeconds, 'warm-up');
      await e.target.refill?.(warm.perSecond);
      await e.target.settle?.(warm.requests);
    }
  }

  private async round(e: Entry, n: number): Promise<Round> {
    const watched = [...e.runner.processes(), ...this.servers];
    // The probe and the call counters read outside the CPU window, so that their own work is not counted.
    const callsBefore = await e.target.internalCalls?.();
    const counters = await this.probe.read();
    const cpu = cpuNow(watched);
    const r = await this.wrk(e, this.s.wrk.seconds, `round ${n}`);
    const settled = await e.target.settle?.(r.requests);
    const polls = settled?.polls ?? 0;
    const used = cpuBetween(cpu, cpuNow(watched));
    const work = lessIdle(between(counters, await this.probe.read()), this.idle);
    work.questions = Math.max(0, work.questions - polls);
    const callsAfter = await e.target.internalCalls?.();
    const served = callsBefore?.served !== undefined && callsAfter?.served !== undefined ? callsAfter.served - callsBefore.served : undefined;
    const answers = settled?.completed ?? served ?? r.requests;
    const donePerSecond = settled?.completed !== undefined && settled.drainMs !== undefined ? settled.completed / (this.s.wrk.seconds + settled.drainMs / 1000) : undefined;
    const perRequest = (group: string) => fmt(watched.filter((p) => p.group === group).reduce((s, p) => s + (used.get(p.name) ?? 0), 0) / answers);
    const total = fmt([...used.values()].reduce((s, us) => s + us, 0) / answers);
    const load = loadavg()[0] ?? NaN;
    console.log(
      `  round ${n} ${e.label}: ${fmt(r.perSecond)} req/s, ${total} CPU-µs/req ` +
        `(services ${perRequest('services')}, Redis ${perRequest('redis')}, MariaDB ${perRequest('mysql')}), ` +
        `${fmt(work.questions / answers, 2)} SQL/req, ${fmt(work.commands / answers, 2)} Redis commands/req` +
        `${callsAfter && callsBefore ? `, ${fmt((callsAfter.calls - callsBefore.calls) / answers, 2)} internal HTTP/req` : ''}` +
        `${donePerSecond === undefined ? '' : `, ${fmt(donePerSecond)} done/s end to end`}, load ${fmt(load, 1)}`,
    );
    const internalCalls = callsBefore && callsAfter ? callsAfter.calls - callsBefore.calls : undefined;
    const callsByRoute = callsBefore && callsAfter ? routeDeltas(callsBefore.byRoute, callsAfter.byRoute) : undefined;
    return { label: e.label, answers, wrkAnswers: r.requests, perSecond: r.perSecond, donePerSecond, cpu: used, work, internalCalls, callsByRoute, load };
  }

  /** One wrk run; any non-2xx answer or socket error stops the bench, with the processes' last lines. */
  private async wrk(e: Entry, seconds: number, what: string): Promise<WrkResult> {
    e.runner.assertUp();
    const t = e.target;
    const threads = this.s.wrk.threads;
    const r = await runWrk(t.url, t.script, { ...this.s.wrk, connections: e.connections ?? this.s.wrk.connections, seconds }, t.pool ? [String(t.pool.offset), String(threads)] : []);
    if (t.pool) t.pool.offset += r.maxUsed * threads;
    const bad = errorsOf(r);
    if (bad) throw new Error(`${what} of ${e.label}: wrk counted ${bad} (of ${r.requests} answers), so the figures would measure failures.\n${e.runner.lastLines(15)}`);
    return r;
  }
}

function routeDeltas(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  return new Map([...b].map(([route, n]) => [route, n - (a.get(route) ?? 0)] as const).filter(([, d]) => d > 0));
}
