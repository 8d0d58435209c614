import { median } from '../redis/measure';
import { between, idleRate, lessIdle, scaled, settle, sum, type Probe, type Work } from './counters';
import type { Pool } from './pools';
import { errorsOf, runWrk, type WrkResult, type WrkSettings } from './wrk';

/**
 * One scenario in interleaved rounds: baseline, scenario, baseline, scenario, … each a wrk
 * run of the same length, so that a busy moment on the machine meets both alike. The
 * scenario's rounds are bracketed by counter readings; the baseline's are not (it touches
 * neither Redis nor MySQL).
 */

/**
 * Redis commands per second below which the platform counts as left alone before a scenario
 * (it does about 20 by itself: outbox and revocation checks). At start, a fresh Redis is
 * replayed the outboxes' recent events (those of earlier runs on the shared schemas), and
 * order-service consumes them for a while.
 */
const QUIET = 60;

export interface Target {
  /** Full URL wrk is pointed at (its path is the request's unless the script says otherwise). */
  url: string;
  script: string;
  /** Pooled scripts take an entry per request from here. */
  pool?: Pool;
  /** Called after the warm-up with its rate, to make the pool big enough for the rounds. */
  refill?(perSecond: number): Promise<void>;
  /** Rounds of this scenario, when not Settings.rounds. */
  rounds?: number;
}

export interface Settings {
  rounds: number;
  /** Rounds of the cache hit and of its reference: cheap, and the ratio the hot path is judged by, so more of them. */
  hitRounds: number;
  wrk: WrkSettings;
  warmupSeconds: number;
  /** The platform left alone before each scenario, to learn what it does anyway. */
  idleMs: number;
}

export interface Outcome {
  name: string;
  rounds: WrkResult[];
  baselines: WrkResult[];
  /** Per request over all rounds, idle work taken out. */
  perRequest: Work;
  /** What the idle platform did per second before this scenario. */
  idle: Work;
  /** Every wrk run that counted an error, warm-up included; a run with any fails the bench. */
  errors: string[];
}

export interface Summary {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Median of the per-round ratios scenario ÷ the baseline round just before it. */
  ratio: number;
}

export function summary(o: Outcome): Summary {
  return {
    perSecond: median(o.rounds.map((r) => r.perSecond)),
    p50Ms: median(o.rounds.map((r) => r.p50Ms)),
    p99Ms: median(o.rounds.map((r) => r.p99Ms)),
    ratio: median(o.rounds.map((r, i) => r.perSecond / (o.baselines[i]?.perSecond ?? NaN))),
  };
}

export class Runner {
  constructor(
    private readonly s: Settings,
    private readonly probe: Probe,
    private readonly baseline: Target,
  ) {}

  /** One wrk run; a pooled target's offset moves past every entry the run may have taken. */
  async wrk(t: Target, seconds: number, errors: string[], label: string): Promise<WrkResult> {
    const args = t.pool ? [String(t.pool.offset), String(this.s.wrk.threads)] : [];
    const r = await runWrk(t.url, t.script, { ...this.s.wrk, seconds }, args);
    if (t.pool) t.pool.offset += r.maxUsed * this.s.wrk.threads;
    const bad = errorsOf(r);
    if (bad) errors.push(`${label}: ${bad} (of ${r.requests} answers)`);
    return r;
  }

  async warmUpBaseline(): Promise<string[]> {
    const errors: string[] = [];
    await this.wrk(this.baseline, this.s.warmupSeconds, errors, 'baseline warm-up');
    return errors;
  }

  /** Once Redis is quiet, what the platform does per second left alone (taken out of every round). */
  private async idle(): Promise<Work> {
    if (!(await settle(this.probe, QUIET, 60_000))) console.warn(`  Redis stayed busier than ${QUIET} commands/s for a minute; measuring anyway`);
    const idle = await idleRate(this.probe, this.s.idleMs);
    const busiest = [...idle.calls].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([c, n]) => `${c} ${n.toFixed(0)}/s`);
    console.log(`  idle: ${idle.commands.toFixed(0)} Redis commands/s (${busiest.join(', ')}), ${idle.questions.toFixed(0)} SQL statements/s`);
    return idle;
  }

  async run(name: string, t: Target): Promise<Outcome> {
    const errors: string[] = [];
    const idle = await this.idle();
    // Quiet again after a round: not above twice the idle rate, with a little slack for a round number.
    const settled = () => settle(this.probe, idle.commands * 2 + 20, 15_000);
    const warm = await this.wrk(t, this.s.warmupSeconds, errors, `${name}, warm-up`);
    await t.refill?.(warm.perSecond);
    await settled();
    const results: WrkResult[] = [];
    const baselines: WrkResult[] = [];
    const works: Work[] = [];
    for (let round = 1; round <= (t.rounds ?? this.s.rounds); round++) {
      baselines.push(await this.wrk(this.baseline, this.s.wrk.seconds, errors, `${name}, baseline round ${round}`));
      const before = await this.probe.read();
      const r = await this.wrk(t, this.s.wrk.seconds, errors, `${name}, round ${round}`);
      if (!(await settled())) console.warn(`  ${name} round ${round}: Redis still busy 15 s after the round; counted as it stands`);
      works.push(lessIdle(between(before, await this.probe.read()), idle));
      results.push(r);
      console.log(`  round ${round}: ${r.perSecond.toFixed(0)} req/s (baseline ${baselines.at(-1)?.perSecond.toFixed(0)}), p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`);
    }
    const served = results.reduce((s, r) => s + r.requests, 0);
    return { name, rounds: results, baselines, perRequest: scaled(sum(works), 1 / served), idle, errors };
  }
}
