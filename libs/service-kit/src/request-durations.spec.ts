import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { RequestDurations } from './request-durations';

const NAME = 'http_request_duration_seconds';
const HELP = 'HTTP request duration by method, route and status code';
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The same observations through prom-client's Histogram and through RequestDurations, each in a registry of its own. */
function pair(observations: [method: string, route: string, status: number, seconds: number][]) {
  const theirs = new Registry();
  const ours = new Registry();
  for (const r of [theirs, ours]) r.setDefaultLabels({ service: 'svc' });
  const histogram = new Histogram({ name: NAME, help: HELP, labelNames: ['method', 'route', 'status_code'], buckets: BUCKETS, registers: [theirs] });
  const durations = new RequestDurations(NAME, HELP, BUCKETS);
  ours.registerMetric(durations.asMetric());
  for (const [method, route, status, seconds] of observations) {
    histogram.observe({ method, route, status_code: String(status) }, seconds);
    durations.observe(method, route, status, seconds);
  }
  return { theirs, ours, durations };
}

// Values on the bounds, between them, below the first and above the last, over several series.
const OBSERVATIONS: [string, string, number, number][] = [
  ['GET', '/v1/orders/:id', 200, 0.0004],
  ['GET', '/v1/orders/:id', 200, 0.001],
  ['GET', '/v1/orders/:id', 200, 0.0031],
  ['GET', '/v1/orders/:id', 404, 0.002],
  ['POST', '/v1/orders', 201, 0.04],
  ['POST', '/v1/orders', 201, 5],
  ['POST', '/v1/orders', 201, 7.5],
  ['GET', 'unmatched', 404, 0.0001],
];

describe('RequestDurations', () => {
  it('when the same requests are observed, then /metrics reads exactly as with prom-client’s Histogram', async () => {
    const { theirs, ours } = pair(OBSERVATIONS);
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain(`${NAME}_bucket{le="0.005",service="svc",method="GET",route="/v1/orders/:id",status_code="200"} 3`);
    expect(text).toContain(`${NAME}_count{service="svc",method="POST",route="/v1/orders",status_code="201"} 3`);
  });

  it('when read as JSON, or merged as a cluster’s workers are, then the values are prom-client’s too', async () => {
    const { theirs, ours } = pair(OBSERVATIONS);
    // prom-client also gives every value an exemplar field (null or undefined: exemplars are off).
    const withoutExemplar = ({ exemplar: _, ...v }: { exemplar?: unknown }) => v;
    const json = async (r: Registry) => (await r.getMetricsAsJSON()).map((m) => ({ ...m, values: m.values.map((v) => withoutExemplar(v as { exemplar?: unknown })) }));
    expect(await json(ours)).toEqual(await json(theirs));
    const merged = (r: Registry) => r.getMetricsAsJSON().then((json) => AggregatorRegistry.aggregate([json, json]).metrics());
    expect(await merged(ours)).toBe(await merged(theirs));
  });

  it('when the registry is reset, then every series is gone', async () => {
    const { ours } = pair(OBSERVATIONS);
    ours.resetMetrics();
    expect(await ours.metrics()).toBe(`# HELP ${NAME} ${HELP}\n# TYPE ${NAME} histogram\n`);
  });

  it('when a duration is not a finite number, then it is dropped, and the series stays as it was', async () => {
    const { ours, durations } = pair([['GET', '/x', 200, 0.002]]);
    durations.observe('GET', '/x', 200, Number.NaN);
    durations.observe('GET', '/x', 200, Number.POSITIVE_INFINITY);
    const text = await ours.metrics();
    expect(text).toContain(`${NAME}_count{service="svc",method="GET",route="/x",status_code="200"} 1`);
    expect(text).toContain(`${NAME}_sum{service="svc",method="GET",route="/x",status_code="200"} 0.002`);
  });

  it('when the bounds are not increasing, then it refuses them', () => {
    expect(() => new RequestDurations(NAME, HELP, [0.1, 0.1])).toThrow(RangeError);
    expect(() => new RequestDurations(NAME, HELP, [0.1, Infinity])).toThrow(RangeError);
  });
});
