import { between, lessIdle, type Probe, type Work } from '../http/counters';
import { errorsOf, runWrk, type WrkResult, type WrkSettings } from '../http/wrk';
import { fmt } from '../redis/measure';
import { assertUp, processesOf, restart, type Contender } from './contenders';
import { cpuBetween, cpuNow, type Watched } from './proc';
import type { Context, Scenario, Target } from './scenarios';

/**
 * A scenario in interleaved rounds: both contenders warm up, then A, B, A, B, … each a wrk run
 * of the same length against one platform while the other stays up, idle. A round's CPU is
 * read from /proc for the loaded platform's four processes and the two servers, from just
 * before wrk starts until its answers' work is done (at once, or when the payments' orders
 * read PAID); its counters are the servers' deltas, the idle rate taken out.
 */

export interface Round {
  label: 'A' | 'B';
  answers: number;
  perSecond: number;
  /** CPU microseconds by process name: the round's platform's four, `redis-server` and `mariadbd`. */
  cpu: Map<string, number>;
  /** Redis commands and SQL statements, what both idle platforms do anyway taken out. */
  work: Work;
}

export interface Outcome {
  name: string;
  /** In the order run: A, B, A, B, … */
  rounds: Round[];
}

export interface RoundSettings {
  rounds: number;
  warmupSeconds: number;
  wrk: WrkSettings;
  /**
   * Fresh processes of both builds before every round pair (and a warm-up of each): a
   * process stays a few per cent cheaper or dearer than another of the same build for its
   * whole life, which rounds on the same processes cannot average out.
   */
  restart: boolean;
}

export class Rounds {
  constructor(
    private readonly s: RoundSettings,
    private readonly contenders: readonly Contender[],
    /** redis-server and mariadbd. */
    private readonly servers: Watched[],
    private readonly probe: Probe,
    /** Per second, both platforms left alone. */
    private readonly idle: Work,
  ) {}

  async run(scenario: Scenario, ctx: Context): Promise<Outcome> {
    console.log(scenario.name);
    const targets = new Map<Contender, Target>();
    for (const c of this.contenders) {
      assertUp(c);
      targets.set(c, await scenario.target(c, ctx));
    }
    const rounds: Round[] = [];
    for (let n = 1; n <= this.s.rounds; n++) {
      if (n === 1 || this.s.restart) await this.warmUp(targets, n);
      for (const [c, t] of targets) rounds.push(await this.round(c, t, n));
    }
    return { name: scenario.name, rounds };
  }

  private async warmUp(targets: Map<Contender, Target>, n: number): Promise<void> {
    if (this.s.restart) {
      // Which build starts first takes turns.
      const order = n % 2 === 1 ? [...targets.keys()] : [...targets.keys()].reverse();
      for (const c of order) await restart(c);
    }
    for (const [c, t] of targets) {
      const warm = await this.wrk(c, t, this.s.warmupSeconds, 'warm-up');
      await t.refill?.(warm.perSecond);
      await t.settle?.(warm.requests);
    }
  }

  private async round(c: Contender, t: Target, n: number): Promise<Round> {
    const watched = [...processesOf(c), ...this.servers];
    // The probe reads outside the CPU window, so that its INFO and SHOW STATUS are not counted.
    const counters = await this.probe.read();
    const cpu = cpuNow(watched);
    const r = await this.wrk(c, t, this.s.wrk.seconds, `round ${n}`);
    const polls = (await t.settle?.(r.requests)) ?? 0;
    const used = cpuBetween(cpu, cpuNow(watched));
    const work = lessIdle(between(counters, await this.probe.read()), this.idle);
    work.questions = Math.max(0, work.questions - polls);
    const perRequest = (group: string) => fmt(watched.filter((p) => p.group === group).reduce((s, p) => s + (used.get(p.name) ?? 0), 0) / r.requests);
    const total = fmt([...used.values()].reduce((s, us) => s + us, 0) / r.requests);
    console.log(
      `  round ${n} ${c.build.label}: ${fmt(r.perSecond)} req/s, ${total} CPU-µs/req ` +
        `(services ${perRequest('services')}, Redis ${perRequest('redis')}, MariaDB ${perRequest('mysql')})`,
    );
    return { label: c.build.label, answers: r.requests, perSecond: r.perSecond, cpu: used, work };
  }

  /** One wrk run; any non-2xx answer or socket error stops the bench, with the processes' last lines. */
  private async wrk(c: Contender, t: Target, seconds: number, what: string): Promise<WrkResult> {
    assertUp(c);
    const threads = this.s.wrk.threads;
    const r = await runWrk(t.url, t.script, { ...this.s.wrk, seconds }, t.pool ? [String(t.pool.offset), String(threads)] : []);
    if (t.pool) t.pool.offset += r.maxUsed * threads;
    const bad = errorsOf(r);
    if (bad) {
      const lines = c.platform.all.map((p) => `${p.name}, its last lines:\n${p.output(15)}`).join('\n');
      throw new Error(`${what} of build ${c.build.label}: wrk counted ${bad} (of ${r.requests} answers), so the figures would measure failures.\n${lines}`);
    }
    return r;
  }
}
