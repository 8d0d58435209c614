import type { Answer } from '../../e2e/src/client';
import { sleep } from '../../e2e/src/processes';
import { ROUTES, type Mix, type Route } from './mix';

/**
 * Open-loop load at a fixed rate: requests start on a schedule, whatever the answers take, so
 * a platform that slows down meets the same rate rather than a gentler one. The routes come
 * from a shuffled deck of their shares, so every hundred requests hold the mix exactly.
 */

export interface RouteCounts {
  sent: number;
  /** Answers by status code, and failures without an answer (`timeout`, `network`). */
  outcomes: Map<string, number>;
  /** Latency of every answer, ms, by minute of the run. */
  latencies: number[][];
}

export interface LoadResult {
  seconds: number;
  started: number;
  /** Requests not started because `maxInFlight` were still open (the harness's cap, not the platform's answer). */
  skipped: number;
  routes: Map<Route, RouteCounts>;
  unexpected: Load['unexpected'];
}

const TICK_MS = 20;
const UNEXPECTED_KEPT = 20;
const EXPECTED = new Map<Route, number>(ROUTES.map((r) => [r.route, r.expect]));

function deck(): Route[] {
  const cards = ROUTES.flatMap((r) => Array.from({ length: r.weight }, () => r.route));
  for (let i = cards.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [cards[i], cards[j]] = [cards[j] as Route, cards[i] as Route];
  }
  return cards;
}

/** The status, with the problem's code when it is not a 2xx (`503 DEPENDENCY_UNAVAILABLE`). */
function outcomeOf(answer: Answer): string {
  const code: unknown = answer.status >= 300 ? answer.body?.code : undefined;
  return typeof code === 'string' ? `${answer.status} ${code}` : String(answer.status);
}

const failureOf = (err: unknown) => (err instanceof Error && err.name === 'TimeoutError' ? 'timeout' : 'network');

export class Load {
  readonly routes = new Map<Route, RouteCounts>(ROUTES.map((r) => [r.route, { sent: 0, outcomes: new Map(), latencies: [] }]));
  /** The first unexpected answers, with when they came. */
  readonly unexpected: { minute: number; route: Route; outcome: string }[] = [];
  private cards: Route[] = [];
  private inFlight = 0;
  private skipped = 0;
  private t0 = 0;

  constructor(
    private readonly mix: Mix,
    private readonly rate: number,
    private readonly maxInFlight: number,
  ) {}

  /** Sends at `rate` per second until `until()` says stop, then waits for the requests still open. */
  async run(stop: () => boolean): Promise<LoadResult> {
    this.t0 = performance.now();
    let started = 0;
    while (!stop()) {
      const due = Math.floor(((performance.now() - this.t0) / 1000) * this.rate);
      for (; started < due; started++) {
        if (this.inFlight >= this.maxInFlight) this.skipped++;
        else void this.one();
      }
      await sleep(TICK_MS);
    }
    const seconds = (performance.now() - this.t0) / 1000;
    while (this.inFlight > 0) await sleep(TICK_MS);
    return { seconds, started, skipped: this.skipped, routes: this.routes, unexpected: this.unexpected };
  }

  private next(): Route {
    if (this.cards.length === 0) this.cards = deck();
    return this.cards.pop() as Route;
  }

  private async one(): Promise<void> {
    this.inFlight++;
    const begun = performance.now();
    const minute = Math.floor((begun - this.t0) / 60_000);
    const { route, send } = this.mix.plan(this.next());
    const counts = this.routes.get(route) as RouteCounts;
    counts.sent++;
    let outcome: string;
    try {
      outcome = outcomeOf(await send());
      (counts.latencies[minute] ??= []).push(performance.now() - begun);
    } catch (err) {
      outcome = failureOf(err);
    } finally {
      this.inFlight--;
    }
    counts.outcomes.set(outcome, (counts.outcomes.get(outcome) ?? 0) + 1);
    if (outcome !== String(EXPECTED.get(route)) && this.unexpected.length < UNEXPECTED_KEPT) this.unexpected.push({ minute: (begun - this.t0) / 60_000, route, outcome });
  }
}
