import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * Counters and histograms on the service's registry (`app.metrics`), created once
 * per registry and name, so two caches or limiters in one service share a metric
 * and tell themselves apart by label.
 */
export function counter<L extends string>(registry: Registry | undefined, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: registry ? [registry] : [] });
}

export function histogram<L extends string>(
  registry: Registry | undefined,
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: number[],
): Histogram<L> {
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Histogram<L>;
  return new Histogram({ name, help, labelNames, buckets, registers: registry ? [registry] : [] });
}
