import type { Metric } from 'prom-client';

/**
 * The `http_request_duration_seconds` histogram, by method, route and status code, recorded
 * at a fraction of prom-client's per-request cost. prom-client's Histogram validates and hashes
 * the label set on every observe(), its labelled children too; that was most of what metrics
 * cost a cached read. Here a series is found through maps keyed by the route pattern and the
 * method, the same string objects on every request (V8 keeps a string's hash), then by the
 * status code, and an observation is a few additions. The registry reads it as it reads a
 * prom-client histogram: the same lines, labels and order in /metrics, the same JSON.
 */

const BUCKET = '_bucket';

interface Series {
  labels: { method: string; route: string; status_code: string };
  /** Observations per bucket: counts[i] for upperBounds[i], the last for above all of them. */
  counts: number[];
  sum: number;
  count: number;
}

interface Value {
  value: number;
  metricName: string;
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
}

export class RequestDurations {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Map<string, Map<number, Series>>>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
  ) {
    if (upperBounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (upperBounds[i - 1] as number)))) {
      throw new RangeError('bucket upper bounds must be finite and increasing');
    }
  }

  /** One request's duration; `route` is the route pattern (or a fixed word), never the URL. A duration that is not a finite number is dropped. */
  observe(method: string, route: string, status: number, seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    let byMethod = this.series.get(route);
    if (byMethod === undefined) this.series.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
    let s = byStatus.get(status);
    if (s === undefined) {
      s = { labels: { method, route, status_code: String(status) }, counts: new Array<number>(this.upperBounds.length + 1).fill(0), sum: 0, count: 0 };
      byStatus.set(status, s);
    }
    const bounds = this.upperBounds;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    (s.counts[i] as number)++;
    s.sum += seconds;
    s.count++;
  }

  /** For the text exposition: each line's own label (le) apart from its series' labels, as prom-client gives them. */
  async getForPromString() {
    const values: Value[] = [];
    for (const s of this.all()) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += s.counts[i] as number;
        values.push({ value: cumulative, metricName: this.name + BUCKET, labels: { le }, sharedLabels: s.labels });
      });
      values.push(
        { value: s.count, metricName: this.name + BUCKET, labels: { le: '+Inf' }, sharedLabels: s.labels },
        { value: s.sum, metricName: `${this.name}_sum`, labels: {}, sharedLabels: s.labels },
        { value: s.count, metricName: `${this.name}_count`, labels: {}, sharedLabels: s.labels },
      );
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** For getMetricsAsJSON and cluster aggregation: every value with all its labels. */
  async get() {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map(({ sharedLabels, labels, ...v }) => ({ ...v, labels: { ...labels, ...sharedLabels } })) };
  }

  reset(): void {
    this.series.clear();
  }

  /** What Registry.registerMetric takes: it reads name, type, get(), getForPromString() and reset() of a metric, nothing else. */
  asMetric(): Metric {
    return this as unknown as Metric;
  }

  private *all(): Iterable<Series> {
    for (const byMethod of this.series.values()) for (const byStatus of byMethod.values()) yield* byStatus.values();
  }
}
