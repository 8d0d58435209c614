/**
 * The pure arithmetic of bench:compare: per-round figures, ratios between entries of the same
 * round, their medians, the "essential work plus an order read" reference, and the goals'
 * verdicts. No I/O here (unit-tested in tools/bench-compare.spec.ts).
 */

/** One entry's figures in one round. */
export interface RoundFigures {
  label: string;
  /**
   * Requests done per second: for the payments, end to end (those whose orders turned PAID, over
   * the wrk run and the wait for the last of them); for the rest, wrk's answers per second.
   */
  perSecond: number;
  /** CPU microseconds per answer, every process of the entry plus redis-server and mariadbd. */
  cpuUs: number;
}

/** One entry's counters over all its rounds, per answer. */
export interface Counts {
  sql: number;
  redis: number;
  /** Undefined when nothing counted them. */
  calls?: number;
}

export interface ScenarioFigures {
  /** Key of the scenario: `hit`, `create1`, `create20`, `pay8`, `pay32`. */
  key: string;
  name: string;
  /** In the order run; round n of every entry comes before round n + 1 of any. */
  rounds: RoundFigures[];
  counts: Record<string, Counts>;
}

export const PLATFORM = 'platform';
export const BARE = 'bare Fastify';
/** The bare app reading the answer from Redis with one GET per request: what any read asking Redis once costs. */
export const FLOOR = 'bare Fastify + one Redis GET';
export const USUAL = 'usual recipe';
export const TUNED = 'tuned recipe';
export const ESSENTIAL = 'essential payment';
export const ORDER_READ = 'essential order read';
/** Not run: per round, the essential payment and the order read added up (see essentialPlusRead). */
export const ESSENTIAL_PLUS_READ = 'essential payment + order read';

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The entry's rounds, in order. */
export const roundsOf = (s: ScenarioFigures, label: string): RoundFigures[] => s.rounds.filter((r) => r.label === label);

/**
 * The reference "essential work plus an order read", round by round: CPU-µs per payment is the
 * payment's plus the read's of the same round; the rate is that of doing both one after the other
 * on the same machine, 1 / (1 / payments/s + 1 / reads/s).
 */
export function essentialPlusRead(s: ScenarioFigures): RoundFigures[] {
  const reads = roundsOf(s, ORDER_READ);
  return roundsOf(s, ESSENTIAL).map((p, i) => {
    const r = reads[i];
    if (!r) throw new Error(`${s.name}: round ${i + 1} of ${ORDER_READ} is missing`);
    return { label: ESSENTIAL_PLUS_READ, cpuUs: p.cpuUs + r.cpuUs, perSecond: 1 / (1 / p.perSecond + 1 / r.perSecond) };
  });
}

/** An entry's rounds, or the computed reference's. */
export function seriesOf(s: ScenarioFigures, label: string): RoundFigures[] {
  return label === ESSENTIAL_PLUS_READ ? essentialPlusRead(s) : roundsOf(s, label);
}

export type Measure = 'cpuUs' | 'perSecond';

/** f(x's round n, y's round n) for every round both have. */
export function perRound(s: ScenarioFigures, x: string, y: string, measure: Measure): number[] {
  const xs = seriesOf(s, x);
  const ys = seriesOf(s, y);
  if (xs.length !== ys.length) throw new Error(`${s.name}: ${x} ran ${xs.length} rounds, ${y} ${ys.length}`);
  return xs.map((r, i) => r[measure] / (ys[i] as RoundFigures)[measure]);
}

/** x ÷ y of a measure: the median of the rounds' ratios, and the ratios themselves. */
export function ratio(s: ScenarioFigures, x: string, y: string, measure: Measure): { median: number; rounds: number[] } {
  const rounds = perRound(s, x, y, measure);
  return { median: median(rounds), rounds };
}

export interface Goal {
  scenario: string;
  /** What is compared, in words, e.g. `usual recipe's CPU-µs ÷ the platform's`. */
  what: string;
  value(s: ScenarioFigures): number;
  op: '≥' | '≤';
  limit: number;
}

export interface Verdict {
  goal: Goal;
  scenario: string;
  value: number;
  pass: boolean;
}

const cpuAdvantage = (scenario: string, ref: string, limit: number): Goal => ({
  scenario,
  what: `${ref}'s CPU-µs/req ÷ the platform's`,
  value: (s) => ratio(s, ref, PLATFORM, 'cpuUs').median,
  op: '≥',
  limit,
});

/**
 * A count per request, judged as printed (two decimals): what the idle rate, measured once at
 * rest, leaves of the servers' background work is a few thousandths of a statement per request.
 */
const count = (scenario: string, key: keyof Counts, words: string, limit: number): Goal => ({
  scenario,
  what: `the platform's ${words}/req`,
  value: (s) => Math.round((s.counts[PLATFORM]?.[key] ?? NaN) * 100) / 100,
  op: '≤',
  limit,
});

function payGoals(scenario: string): Goal[] {
  return [
    { scenario, what: `the platform's CPU-µs/payment ÷ ${ESSENTIAL_PLUS_READ}'s`, value: (s) => ratio(s, PLATFORM, ESSENTIAL_PLUS_READ, 'cpuUs').median, op: '≤', limit: 1.5 },
    { scenario, what: `the platform's payments done/s (end to end) ÷ ${ESSENTIAL_PLUS_READ}'s`, value: (s) => ratio(s, PLATFORM, ESSENTIAL_PLUS_READ, 'perSecond').median, op: '≥', limit: 0.6 },
    count(scenario, 'sql', 'SQL statements', 8),
    count(scenario, 'redis', 'Redis commands (inside scripts included)', 20),
    count(scenario, 'calls', 'internal HTTP calls', 2),
  ];
}

/** The project's goals for these paths, in the order printed. */
export const GOALS: readonly Goal[] = [
  ...payGoals('pay8'),
  ...payGoals('pay32'),
  cpuAdvantage('hit', USUAL, 5),
  cpuAdvantage('hit', TUNED, 1.3),
  cpuAdvantage('create1', USUAL, 4),
  count('create1', 'sql', 'SQL statements', 4),
  cpuAdvantage('create20', USUAL, 8),
  count('create20', 'sql', 'SQL statements', 4),
];

/** Every goal whose scenario ran, judged on that run's figures; a figure that is not a number is a miss. */
export function evaluate(scenarios: ScenarioFigures[], goals: readonly Goal[] = GOALS): Verdict[] {
  const verdicts: Verdict[] = [];
  for (const goal of goals) {
    const s = scenarios.find((x) => x.key === goal.scenario);
    if (!s) continue;
    const value = goal.value(s);
    const pass = Number.isFinite(value) && (goal.op === '≥' ? value >= goal.limit : value <= goal.limit);
    verdicts.push({ goal, scenario: s.name, value, pass });
  }
  return verdicts;
}
