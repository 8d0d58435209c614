import { cpus, loadavg } from 'node:os';
import { percentile } from '../orders/measure';
import { fmt } from '../redis/measure';
import type { LoadResult, RouteCounts } from './load';
import { ROUTES } from './mix';
import type { Sample } from './sampler';
import { METRICS, p99Of, trendTable } from './trend';

export interface SoakInfo {
  date: string;
  command: string;
  /** The network namespace it ran in, if any. */
  namespace?: string;
  rate: number;
  minutes: number;
  instances: number;
  sampleSeconds: number;
  versions: { node: string; mariadb: string; redis: string };
  privateRedis: boolean;
  loadAtStart: number;
  /** Crashes, and exits other than 0 on SIGTERM. */
  problems: string[];
}

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

/** Answers other than the route's expected status, and failures without an answer. */
export function unexpected(result: Pick<LoadResult, 'routes'>): number {
  return ROUTES.reduce((n, r) => {
    const counts = result.routes.get(r.route);
    return n + [...(counts?.outcomes ?? [])].filter(([k]) => k !== String(r.expect)).reduce((s, [, c]) => s + c, 0);
  }, 0);
}

function requestsTable(result: LoadResult): string {
  const lastMinutes = Math.ceil(result.seconds / 60);
  const lines = ROUTES.map(({ route, expect }) => {
    const c = result.routes.get(route) as RouteCounts;
    const others = [...c.outcomes].filter(([k]) => k !== String(expect));
    const all = c.latencies.flatMap((m) => m ?? []);
    return row([
      `\`${route}\``,
      fmt(c.sent),
      fmt(c.outcomes.get(String(expect)) ?? 0),
      others.length === 0 ? '0' : others.map(([k, n]) => `${fmt(n)} × ${k}`).join(', '),
      all.length ? fmt(percentile(all, 50), 1) : '—',
      all.length ? fmt(percentile(all, 99), 1) : '—',
      fmt(p99Of(c.latencies.slice(0, 5)), 1),
      fmt(p99Of(c.latencies.slice(Math.max(0, lastMinutes - 5))), 1),
    ]);
  });
  const sent = [...result.routes.values()].reduce((s, c) => s + c.sent, 0);
  return [
    row(['route', 'sent', 'expected status', 'anything else', 'p50 ms', 'p99 ms', 'p99, first 5 min', 'p99, last 5 min']),
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
    ...lines,
    row(['**all**', fmt(sent), '', `**${fmt(unexpected(result))}**`, '', '', '', '']),
  ].join('\n');
}

export function reportMarkdown(info: SoakInfo, result: LoadResult, samples: Sample[], processes: string[]): string {
  const cpu = cpus();
  const sent = [...result.routes.values()].reduce((s, c) => s + c.sent, 0);
  const mix = ROUTES.map((r) => `${r.route} ${r.weight}%`).join(', ');
  return [
    '## Soak (`npm run soak`)',
    '',
    `${info.date} · ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'} · Node ${info.versions.node} · MariaDB ${info.versions.mariadb} on 127.0.0.1 · ` +
      `Redis ${info.versions.redis} (${info.privateRedis ? 'a private redis-server the soak started' : 'BENCH_REDIS_URL'}). ` +
      `1-minute load average ${fmt(info.loadAtStart, 1)} at the start and ${fmt(loadavg()[0] ?? NaN, 1)} at the end.`,
    '',
    `**Command.** \`${info.command}\`${info.namespace ? `, in a network namespace of its own (\`${info.namespace}\`), with a MariaDB of its own` : ''}.`,
    '',
    `**Load.** ${fmt(info.rate)} requests/s, open loop (started on schedule, whatever the answers take), for ${fmt(result.seconds / 60, 1)} min: ` +
      `${fmt(sent)} requests (${fmt(sent / result.seconds, 1)}/s achieved), ${fmt(result.skipped)} not started because the harness's cap on open requests was reached. ` +
      `Mix: ${mix}; a route with nothing to act on yet sends an order create instead. ${info.instances} instance${info.instances === 1 ? '' : 's'} of each service ` +
      `and the sandbox at 0 ms, as the e2e harness starts them (built apps, \`LOG_LEVEL=warn\`, the limiter running but never refusing). ` +
      `Every process sampled every ${info.sampleSeconds} s; \`start\` is the sample after ${info.sampleSeconds} s of idle before the load.`,
    '',
    info.problems.length === 0 ? '**Processes.** None crashed; all exited 0 on SIGTERM.' : `**Processes.** ${info.problems.join('; ')}`,
    '',
    '### Answers',
    '',
    requestsTable(result),
    '',
    ...(result.unexpected.length > 0
      ? [`The first unexpected answers, by minute of the load: ${result.unexpected.map((u) => `${fmt(u.minute, 1)} \`${u.route}\` ${u.outcome}`).join('; ')}.`, '']
      : []),
    '### Trend per process',
    '',
    ...METRICS.flatMap((m) => [trendTable(samples, processes, m), '']),
  ].join('\n');
}
