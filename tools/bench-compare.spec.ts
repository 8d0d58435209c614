/* eslint-disable @nx/enforce-module-boundaries -- a workspace test of the benches' own arithmetic (bench/ is no project of its own). */
import {
  ESSENTIAL,
  ESSENTIAL_PLUS_READ,
  evaluate,
  GOALS,
  median,
  ORDER_READ,
  PLATFORM,
  ratio,
  TUNED,
  USUAL,
  type RoundFigures,
  type ScenarioFigures,
} from '../bench/compare/goals';
import { figuresOf, processTable } from '../bench/compare/report';
import { paidSettler } from '../bench/cpu/scenarios';
import type { Round } from '../bench/cpu/rounds';

/** The arithmetic bench:compare judges its goals with (bench/compare/goals.ts): no servers, no load. */

const round = (label: string, cpuUs: number, perSecond: number): RoundFigures => ({ label, cpuUs, perSecond });

function pay(key: string, platform: [number, number][], essential: [number, number][], read: [number, number][], counts = { sql: 8, redis: 20, calls: 2 }): ScenarioFigures {
  const rounds: RoundFigures[] = [];
  platform.forEach(([cpu, rate], i) => {
    rounds.push(round(PLATFORM, cpu, rate));
    rounds.push(round(ESSENTIAL, ...(essential[i] as [number, number])));
    rounds.push(round(ORDER_READ, ...(read[i] as [number, number])));
  });
  return { key, name: key, rounds, counts: { [PLATFORM]: counts, [ESSENTIAL]: { sql: 4, redis: 5, calls: 1 } } };
}

describe('bench:compare goals', () => {
  it('when the count is odd or even, then median is the middle value or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('when a ratio is asked, then it is the median of round n over round n, not the ratio of the medians', () => {
    const s: ScenarioFigures = {
      key: 'hit',
      name: 'hit',
      rounds: [round(PLATFORM, 100, 1), round(USUAL, 200, 1), round(PLATFORM, 50, 1), round(USUAL, 400, 1), round(PLATFORM, 80, 1), round(USUAL, 240, 1)],
      counts: {},
    };
    const r = ratio(s, USUAL, PLATFORM, 'cpuUs');
    expect(r.rounds).toEqual([2, 8, 3]);
    expect(r.median).toBe(3);
  });

  it('when the payment is judged, then the reference is the essential payment plus the order read of the same round', () => {
    // Round 1: 1,000 + 500 µs; rates 1,000/s and 1,000/s make 500/s done one after the other.
    const s = pay('pay8', [[2_250, 300]], [[1_000, 1_000]], [[500, 1_000]]);
    expect(ratio(s, PLATFORM, ESSENTIAL_PLUS_READ, 'cpuUs').median).toBe(1.5);
    expect(ratio(s, PLATFORM, ESSENTIAL_PLUS_READ, 'perSecond').median).toBeCloseTo(0.6, 10);
    const verdicts = evaluate([s]);
    expect(verdicts).toHaveLength(5);
    expect(verdicts.every((v) => v.pass)).toBe(true);
  });

  it('when the payment costs more than 1.5× the reference or makes more statements, then those goals miss and the others pass', () => {
    const s = pay('pay32', [[2_251, 301]], [[1_000, 1_000]], [[500, 1_000]], { sql: 8.2, redis: 19, calls: 2 });
    const byWhat = Object.fromEntries(evaluate([s]).map((v) => [v.goal.what, v.pass]));
    expect(byWhat[`the platform's CPU-µs/payment ÷ ${ESSENTIAL_PLUS_READ}'s`]).toBe(false);
    expect(byWhat[`the platform's payments done/s (end to end) ÷ ${ESSENTIAL_PLUS_READ}'s`]).toBe(true);
    expect(byWhat["the platform's SQL statements/req"]).toBe(false);
    expect(byWhat["the platform's Redis commands (inside scripts included)/req"]).toBe(true);
  });

  it('when a count is judged, then it is judged as printed, to two decimals', () => {
    const at = (sql: number) => evaluate([pay('pay8', [[1_000, 1_000]], [[1_000, 1_000]], [[500, 1_000]], { sql, redis: 1, calls: 1 })]).find((v) => v.goal.what.includes('SQL'));
    expect(at(8.004)?.pass).toBe(true);
    expect(at(8.006)?.pass).toBe(false);
  });

  it('when a count was not measured, then its goal is a miss, never a pass', () => {
    const s = pay('pay8', [[1_000, 1_000]], [[1_000, 1_000]], [[500, 1_000]], { sql: 1, redis: 1, calls: undefined as unknown as number });
    const calls = evaluate([s]).find((v) => v.goal.what.includes('HTTP'));
    expect(calls?.pass).toBe(false);
  });

  it('when the cached read is judged, then usual ÷ platform must reach 5× and tuned ÷ platform 1.3×', () => {
    const s: ScenarioFigures = { key: 'hit', name: 'hit', rounds: [round(PLATFORM, 60, 1), round(USUAL, 300, 1), round(TUNED, 75, 1)], counts: {} };
    const verdicts = evaluate([s]);
    expect(verdicts.map((v) => [v.goal.what, v.value, v.pass])).toEqual([
      [`${USUAL}'s CPU-µs/req ÷ the platform's`, 5, true],
      [`${TUNED}'s CPU-µs/req ÷ the platform's`, 1.25, false],
    ]);
  });

  it('when scenarios did not run, then their goals are left out', () => {
    expect(evaluate([])).toEqual([]);
    expect(new Set(GOALS.map((g) => g.scenario))).toEqual(new Set(['pay8', 'pay32', 'hit', 'create1', 'create20']));
  });
});

describe('bench:compare report', () => {
  const platformRound = (answers: number, cpu: [string, number][]): Round => ({
    label: PLATFORM,
    answers,
    wrkAnswers: answers,
    perSecond: answers / 10,
    cpu: new Map(cpu),
    work: { seconds: 10, reads: 0, commands: 0, questions: 0, calls: new Map() },
    load: 1,
  });

  it('when the platform ran, then its CPU per request is split by process, services first, each the median of its rounds per answer', () => {
    const outcome = {
      name: 'read',
      rounds: [
        platformRound(100, [['redis-server', 1_000], ['order-service', 5_000], ['mariadbd', 0]]),
        { ...platformRound(100, [['order-service', 99_999]]), label: USUAL },
        platformRound(200, [['redis-server', 4_000], ['order-service', 6_000], ['mariadbd', 200]]),
        platformRound(50, [['redis-server', 1_500], ['order-service', 3_500], ['mariadbd', 50]]),
      ],
    };
    const lines = processTable([{ key: 'hit', outcome, references: [USUAL] }]).split('\n');
    expect(lines[0]).toBe('| scenario | order-service | mariadbd | redis-server |');
    // order-service: 50, 30, 70 per answer; mariadbd: 0, 1, 1; redis-server: 10, 20, 30.
    expect(lines[2]).toBe('| read | 50 | 1 | 20 |');
  });

  it('when a round waited for its payments, then its rate is the one done end to end; a round without a wait keeps its answers per second', () => {
    const paid = { ...platformRound(900, [['payment-service', 900_000]]), perSecond: 100, donePerSecond: 75 };
    const read = { ...platformRound(500, [['order-service', 50_000]]), label: ORDER_READ, perSecond: 50 };
    const f = figuresOf({ key: 'pay8', outcome: { name: 'pay', rounds: [paid, read] }, references: [] });
    expect(f.rounds.map((r) => r.perSecond)).toEqual([75, 50]);
  });

  it('when the platform ran in no scenario, then the table says so', () => {
    expect(processTable([{ key: 'hit', outcome: { name: 'read', rounds: [] }, references: [] }])).toBe('The platform ran in no scenario.');
  });
});

describe('bench payment settle', () => {
  it('when the PAID count reaches the answers and holds, then the drain ends at the poll that first read the final count', async () => {
    const counts = [2, 5, 9, 10, 10, 10, 10, 10];
    const at: number[] = [];
    const started = performance.now();
    const settle = paidSettler(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        at.push(performance.now() - started);
        return counts.shift() as number;
      },
      'test',
      0,
    );
    const settled = await settle(10);
    expect(settled.polls).toBe(8);
    expect(settled.completed).toBe(10);
    // The fourth poll read 10 first; the four still polls after it are not drain.
    expect(settled.drainMs).toBeGreaterThanOrEqual((at[3] as number) - 1);
    expect(settled.drainMs).toBeLessThan(at[4] as number);
  });
});
