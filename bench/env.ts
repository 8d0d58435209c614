/** A whole-number setting from the environment (BENCH_ROUNDS, SOAK_RATE, …): `fallback` when unset; at least `min`, or the bench stops saying so. */
export function envInt(name: string, fallback: number, min = 1): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer of at least ${min}`);
  return v;
}
