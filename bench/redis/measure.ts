/** Timing helpers: fixed-length rounds, interleaved between contenders, summarised by the median. */

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** Operations per second with `concurrency` callers each awaiting one operation at a time. */
export async function opsPerSecond(op: (i: number) => Promise<unknown>, ms: number, concurrency: number): Promise<number> {
  let done = 0;
  let next = 0;
  const start = performance.now();
  const end = start + ms;
  const caller = async () => {
    while (performance.now() < end) {
      await op(next++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return done / ((performance.now() - start) / 1000);
}

/** Mean microseconds per operation, one caller, each operation awaited before the next. */
export async function microsPerOp(op: (i: number) => Promise<unknown>, ms: number): Promise<number> {
  let done = 0;
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) await op(done++);
  return ((performance.now() - start) * 1000) / done;
}

/**
 * Runs `measure` for every contender once per round, the order rotating each round so
 * none always goes first (or last) while the machine warms up or gets busy. Contenders
 * are compared within a round, where conditions were the same, before taking medians.
 */
export async function interleaved<T extends string>(names: readonly T[], rounds: number, measure: (name: T) => Promise<number>): Promise<Record<T, number>[]> {
  const results: Record<T, number>[] = [];
  for (let r = 0; r < rounds; r++) {
    const round = {} as Record<T, number>;
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length] as T;
      round[name] = await measure(name);
    }
    results.push(round);
  }
  return results;
}

export const fmt = (x: number, digits = 0): string => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
