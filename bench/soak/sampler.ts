import { readFileSync } from 'node:fs';
import { CLK_TCK, type Watched } from '../cpu/proc';

/**
 * What each process looks like every few seconds: its resident memory (VmRSS of
 * /proc/<pid>/status) and CPU (/proc/<pid>/stat) for every process; for the apps also
 * their heap and event-loop lag from their own /metrics (prom-client's default metrics,
 * whose lag histogram restarts at every scrape, so each sample covers the interval since
 * the one before).
 */

export interface Observed extends Watched {
  /** The app's base URL, for /metrics; absent for the servers. */
  url?: string;
}

export interface Figures {
  rssMb: number;
  /** Share of one core since the sample before, %. */
  cpuPct: number;
  heapUsedMb?: number;
  heapTotalMb?: number;
  externalMb?: number;
  lagP99Ms?: number;
  lagMeanMs?: number;
  lagMaxMs?: number;
}

export interface Sample {
  /** Seconds since the load started (negative: before it). */
  t: number;
  figures: Map<string, Figures>;
}

const MB = 1024 * 1024;

function rssMb(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** `name{labels} value` lines of a Prometheus text page, by name (the first series of each). */
function gauges(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})? ([^\s]+)$/gm)) {
    if (!found.has(m[1] as string)) found.set(m[1] as string, Number(m[2]));
  }
  return found;
}

async function appFigures(url: string): Promise<Partial<Figures>> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const g = gauges(await res.text());
  const mb = (name: string) => (g.get(name) ?? NaN) / MB;
  const ms = (name: string) => (g.get(name) ?? NaN) * 1000;
  return {
    heapUsedMb: mb('nodejs_heap_size_used_bytes'),
    heapTotalMb: mb('nodejs_heap_size_total_bytes'),
    externalMb: mb('nodejs_external_memory_bytes'),
    lagP99Ms: ms('nodejs_eventloop_lag_p99_seconds'),
    lagMeanMs: ms('nodejs_eventloop_lag_mean_seconds'),
    lagMaxMs: ms('nodejs_eventloop_lag_max_seconds'),
  };
}

export class Sampler {
  readonly samples: Sample[] = [];
  private last = new Map<string, { at: number; cpu: number }>();

  constructor(private readonly processes: () => Observed[]) {}

  /** Restarts the apps' lag histograms and the CPU baseline: the next sample covers from now. */
  async reset(): Promise<void> {
    await this.take(NaN, false);
  }

  async sample(t: number): Promise<Sample> {
    return (await this.take(t, true)) as Sample;
  }

  private async take(t: number, keep: boolean): Promise<Sample | undefined> {
    const taken = await Promise.all(
      this.processes().map(async (p): Promise<[string, Figures]> => {
        const app = p.url ? await appFigures(p.url) : {};
        const at = performance.now();
        const cpu = cpuSeconds(p.pid);
        const before = this.last.get(p.name);
        this.last.set(p.name, { at, cpu });
        const cpuPct = before ? ((cpu - before.cpu) / ((at - before.at) / 1000)) * 100 : NaN;
        return [p.name, { rssMb: rssMb(p.pid), cpuPct, ...app }];
      }),
    );
    const figures = new Map(taken);
    if (!keep) return undefined;
    const sample = { t, figures };
    this.samples.push(sample);
    return sample;
  }
}
