import { percentile } from '../orders/measure';
import { median } from '../redis/measure';

/** Closed-loop load: `concurrency` callers, each awaiting one operation before starting the next. */

export interface Outcome {
  ok: boolean;
  /** Why it failed, e.g. `402 CARD_DECLINED`; grouped in the report. */
  why: string;
  /** Named durations the operation measured itself (ms), e.g. the POST alone. */
  timings?: Record<string, number>;
}

export interface Run {
  count: number;
  concurrency: number;
  elapsedMs: number;
  perSecond: number;
  succeeded: number;
  failures: Record<string, number>;
  /** Per timing name, every sample of the operations that succeeded. */
  timings: Record<string, number[]>;
}

export async function closedLoop(count: number, concurrency: number, op: (i: number) => Promise<Outcome>): Promise<Run> {
  let next = 0;
  let succeeded = 0;
  const failures: Record<string, number> = {};
  const timings: Record<string, number[]> = {};
  const caller = async () => {
    while (next < count) {
      const outcome = await op(next++).catch((err: unknown): Outcome => ({ ok: false, why: (err instanceof Error ? err.message : String(err)).slice(0, 80) }));
      if (!outcome.ok) {
        failures[outcome.why] = (failures[outcome.why] ?? 0) + 1;
        continue;
      }
      succeeded++;
      for (const [name, ms] of Object.entries(outcome.timings ?? {})) (timings[name] ??= []).push(ms);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, caller));
  const elapsedMs = performance.now() - start;
  return { count, concurrency, elapsedMs, perSecond: count / (elapsedMs / 1000), succeeded, failures, timings };
}

/** An operation that times itself under `name`. */
export async function timed<T extends { ok: boolean; why: string }>(name: string, work: () => Promise<T>): Promise<Outcome> {
  const start = performance.now();
  const { ok, why } = await work();
  return { ok, why, timings: { [name]: performance.now() - start } };
}

export interface Spread {
  p50: number;
  p95: number;
  p99: number;
}

export const spread = (xs: number[] = []): Spread =>
  xs.length === 0 ? { p50: NaN, p95: NaN, p99: NaN } : { p50: median(xs), p95: percentile(xs, 95), p99: percentile(xs, 99) };

/** At most `concurrency` of `items` in flight through `work`; results in the items' order. */
export async function inBatches<T, R>(items: T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}
