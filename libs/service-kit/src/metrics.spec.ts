import { Type } from '@sinclair/typebox';
import { Counter } from 'prom-client';
import { buildTestApp } from '../test/test-app';
import type { App } from './server';

const routes = (app: App) => {
  app.get('/items/:id', { schema: { params: Type.Object({ id: Type.String({ pattern: '^[0-9]+$' }) }) } }, async (request) => ({
    id: request.params.id,
  }));
};

async function scrape(app: App): Promise<string> {
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  return res.body;
}

/** The value of `name{labels}` in Prometheus text, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('metrics', () => {
  let app: App;
  beforeEach(async () => {
    app = await buildTestApp({ service: 'kit-metrics', routes });
  });
  afterEach(() => app.close());

  it('when /metrics is scraped, then it is Prometheus text with the request duration histogram', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toContain('# TYPE http_request_duration_seconds histogram');
  });

  it('when requests hit a route with a parameter, then durations are labelled by the route pattern and status, not the URL', async () => {
    await app.inject({ method: 'GET', url: '/items/1' });
    await app.inject({ method: 'GET', url: '/items/2' });
    await app.inject({ method: 'GET', url: '/items/abc' });
    const text = await scrape(app);
    const labels = { service: 'kit-metrics', method: 'GET', route: '/items/:id' };
    expect(sample(text, 'http_request_duration_seconds_count', { ...labels, status_code: '200' })).toBe(2);
    expect(sample(text, 'http_request_duration_seconds_count', { ...labels, status_code: '400' })).toBe(1);
    expect(sample(text, 'http_request_duration_seconds_bucket', { ...labels, status_code: '200', le: '+Inf' })).toBe(2);
    expect(sample(text, 'http_request_duration_seconds_sum', { ...labels, status_code: '200' })).toBeGreaterThan(0);
    expect(text).not.toMatch(/route="\/items\/(1|2|abc)"/);
  });

  it('when no route matches, then the duration is labelled "unmatched", never with the raw URL', async () => {
    await app.inject({ method: 'GET', url: '/random/a1b2c3' });
    const text = await scrape(app);
    expect(sample(text, 'http_request_duration_seconds_count', { route: 'unmatched', status_code: '404' })).toBe(1);
    expect(text).not.toContain('a1b2c3');
  });

  it('when other code registers a Counter on app.metrics, then it appears in /metrics with the service label', async () => {
    const made = new Counter({ name: 'widgets_made_total', help: 'Widgets made', labelNames: ['kind'], registers: [app.metrics] });
    made.inc({ kind: 'blue' }, 3);
    const text = await scrape(app);
    expect(text).toContain('# TYPE widgets_made_total counter');
    expect(sample(text, 'widgets_made_total', { service: 'kit-metrics', kind: 'blue' })).toBe(3);
  });

  it("when process metrics are off, then only the service's own series are exposed", async () => {
    expect(await scrape(app)).not.toContain('process_cpu_user_seconds_total');
  });
});

describe('metrics of two apps in one process', () => {
  let a: App;
  let b: App;
  beforeAll(async () => {
    a = await buildTestApp({ service: 'kit-a', routes });
    b = await buildTestApp({ service: 'kit-b', routes });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('when each app is built, then each has a registry of its own', () => {
    expect(a.metrics).not.toBe(b.metrics);
  });

  it('when one app counts requests or registers a metric, then the other does not show it', async () => {
    await a.inject({ method: 'GET', url: '/items/1' });
    new Counter({ name: 'only_in_a_total', help: 'A only', registers: [a.metrics] }).inc();
    const textB = await scrape(b);
    expect(textB).not.toContain('only_in_a_total');
    expect(sample(textB, 'http_request_duration_seconds_count', { route: '/items/:id' })).toBeUndefined();
    expect(textB).not.toContain('kit-a');
    expect(sample(await scrape(a), 'http_request_duration_seconds_count', { service: 'kit-a', route: '/items/:id' })).toBe(1);
  });

  it('when both apps register a metric of the same name, then neither conflicts', () => {
    expect(() => {
      new Counter({ name: 'same_name_total', help: 'x', registers: [a.metrics] });
      new Counter({ name: 'same_name_total', help: 'x', registers: [b.metrics] });
    }).not.toThrow();
  });
});

describe('process metrics', () => {
  let app: App;
  beforeAll(async () => {
    app = await buildTestApp({ service: 'kit-process', defaultMetrics: true });
  });
  afterAll(() => app.close());

  it('when process metrics are on, then CPU and memory series carry the service label', async () => {
    const text = await scrape(app);
    expect(sample(text, 'process_cpu_user_seconds_total', { service: 'kit-process' })).toEqual(expect.any(Number));
    expect(text).toContain('nodejs_heap_size_used_bytes');
  });
});
