import { percentile } from '../orders/measure';
import { fmt, median } from '../redis/measure';
import type { Figures, Sample } from './sampler';

/**
 * The trend of one figure of one process over the run: its value at the start, at every 5-minute
 * mark and at the end, and its least-squares slope per 10 minutes over the whole load and over its
 * second half (a figure that levels off has a second-half slope near 0, whatever it did first).
 */

export interface Metric {
  title: string;
  unit: string;
  figure: keyof Figures;
  /** How a mark is read: the sample nearest it, or a summary of the samples since the mark before (noisy figures). */
  at: 'point' | 'lowest' | 'median';
  digits: number;
}

export const METRICS: Metric[] = [
  { title: 'Resident memory (VmRSS)', unit: 'MB', figure: 'rssMb', at: 'point', digits: 0 },
  { title: 'V8 heap used, lowest in the 5 minutes up to each mark (what survives collection)', unit: 'MB', figure: 'heapUsedMb', at: 'lowest', digits: 1 },
  { title: 'V8 heap used, every sample', unit: 'MB', figure: 'heapUsedMb', at: 'point', digits: 1 },
  { title: 'Event-loop lag p99, median of the samples in the 5 minutes up to each mark (prom-client times its 10 ms ticks, so an idle loop reads 10–11)', unit: 'ms', figure: 'lagP99Ms', at: 'median', digits: 1 },
  { title: 'CPU, share of one core, median of the samples in the 5 minutes up to each mark', unit: '%', figure: 'cpuPct', at: 'median', digits: 0 },
];

const MARK_S = 300;

/** Least-squares slope of (t, y), per 10 minutes. */
export function slopePer10Min(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mt = points.reduce((s, [t]) => s + t, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const cov = points.reduce((s, [t, y]) => s + (t - mt) * (y - my), 0);
  const vt = points.reduce((s, [t]) => s + (t - mt) ** 2, 0);
  return (cov / vt) * 600;
}

/** 0, 300, 600, … below the last sample's time, then the last sample's time. */
export function marks(samples: Sample[]): number[] {
  const end = samples.at(-1)?.t ?? 0;
  const out: number[] = [];
  for (let t = 0; t < end - MARK_S / 10; t += MARK_S) out.push(t);
  return [...out, end];
}

function valueAt(points: [number, number][], metric: Metric, mark: number): number {
  if (points.length === 0) return NaN;
  if (metric.at === 'point' || mark <= 0) return points.reduce((best, p) => (Math.abs(p[0] - mark) < Math.abs(best[0] - mark) ? p : best))[1];
  const window = points.filter(([t]) => t > mark - MARK_S && t <= mark + 1).map(([, y]) => y);
  if (window.length === 0) return NaN;
  return metric.at === 'lowest' ? Math.min(...window) : median(window);
}

export interface Trend {
  process: string;
  values: number[];
  slope: number;
  lateSlope: number;
  max: number;
}

export function trend(samples: Sample[], process: string, metric: Metric): Trend | undefined {
  const points = samples
    .map((s) => [s.t, s.figures.get(process)?.[metric.figure]] as [number, number | undefined])
    .filter((p): p is [number, number] => p[0] >= 0 && p[1] !== undefined && Number.isFinite(p[1]));
  if (points.length === 0) return undefined;
  const end = points.at(-1)?.[0] ?? 0;
  return {
    process,
    values: marks(samples).map((m) => valueAt(points, metric, m)),
    slope: slopePer10Min(points),
    lateSlope: slopePer10Min(points.filter(([t]) => t >= end / 2)),
    max: Math.max(...points.map(([, y]) => y)),
  };
}

const signed = (x: number, digits: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${fmt(Math.abs(x), digits)}` : '—');

/** A markdown table of `metric` for every process that reports it. */
export function trendTable(samples: Sample[], processes: string[], metric: Metric): string {
  const at = marks(samples);
  const head = ['process', ...at.map((t, i) => (i === at.length - 1 ? `last (${fmt(t / 60, 1)} min)` : t === 0 ? 'start' : `${t / 60} min`)), 'slope / 10 min', 'slope / 10 min, 2nd half'];
  const rows = processes.flatMap((p) => {
    const tr = trend(samples, p, metric);
    if (!tr) return [];
    const cells = [p, ...tr.values.map((v) => (Number.isFinite(v) ? fmt(v, metric.digits) : '—')), signed(tr.slope, metric.digits + 1), signed(tr.lateSlope, metric.digits + 1)];
    return [`| ${cells.join(' | ')} |`];
  });
  return [`**${metric.title}** (${metric.unit})`, '', `| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows].join('\n');
}

/** p99 of the latencies of the given minutes. */
export const p99Of = (minutes: (number[] | undefined)[]): number => {
  const all = minutes.flatMap((m) => m ?? []);
  return all.length > 0 ? percentile(all, 99) : NaN;
};
