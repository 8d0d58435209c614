import { median } from '../redis/measure';

/** Latency of single requests, one at a time: many samples per contender, summarised by median and p95. */

export interface Latency {
  medianMs: number;
  p95Ms: number;
  samples: number;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}

export const summary = (xs: number[]): Latency => ({ medianMs: median(xs), p95Ms: percentile(xs, 95), samples: xs.length });

const WARM_UP_MS = 300;

export interface LatencySettings {
  /** Samples per contender, at most. */
  samples: number;
  rounds: number;
  /** A contender slower than this budget allows gets fewer samples (and at least `rounds`). */
  budgetMs: number;
}

/**
 * Milliseconds per operation, each awaited before the next. Contenders take turns in
 * rounds, the order rotating, so a machine that warms up or gets busy meets all of them
 * alike. A slow contender (a deep OFFSET) is sampled less, to keep the bench bounded.
 */
export async function latencies<T extends string>(ops: Record<T, () => Promise<unknown>>, s: LatencySettings): Promise<Record<T, Latency>> {
  const names = Object.keys(ops) as T[];
  const perRound = {} as Record<T, number>;
  const samples = {} as Record<T, number[]>;
  for (const name of names) {
    // Warm-up (JIT, caches, buffer pool), which also says how slow the contender is.
    const start = performance.now();
    let calls = 0;
    while (calls < 3 || performance.now() - start < WARM_UP_MS) {
      await ops[name]();
      calls++;
    }
    const each = (performance.now() - start) / calls;
    const n = Math.max(s.rounds, Math.min(s.samples, Math.floor(s.budgetMs / each)));
    perRound[name] = Math.ceil(n / s.rounds);
    samples[name] = [];
  }
  for (let r = 0; r < s.rounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length] as T;
      for (let k = 0; k < perRound[name]; k++) {
        const start = performance.now();
        await ops[name]();
        samples[name].push(performance.now() - start);
      }
    }
  }
  const out = {} as Record<T, Latency>;
  for (const name of names) out[name] = summary(samples[name]);
  return out;
}
