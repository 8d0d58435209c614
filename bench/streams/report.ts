import { cpus } from 'node:os';
import { fmt, median } from '../redis/measure';

export interface Memory {
  rssKiB: number;
  heapUsedKiB: number;
  heapTotalKiB: number;
  externalKiB: number;
}

export interface MemoryPair {
  before: Memory;
  with: Memory;
}

/** One quiet window: `streams` open, nothing changing. */
export interface CpuWindow {
  streams: number;
  seconds: number;
  /** CPU µs used in the window, by process name. */
  cpuUs: Map<string, number>;
  /** `: keep-alive` comments read by the bench in the window. */
  heartbeats: number;
  /** 1-minute load average at the window's start and end. */
  load: [number, number];
}

export interface Delivery {
  changes: number;
  fromAnswer: number[];
  fromSend: number[];
  load: [number, number];
  openAfter: number;
}

export interface RunInfo {
  date: string;
  versions: { node: string; mariadb: string; redis: string };
  namespace?: string;
  privateRedis: boolean;
  streams: number;
  users: number;
  windowSeconds: number;
  rounds: number;
  gcForced: boolean;
  loadAtStart: number;
  loadAtEnd: number;
  runSeconds: number;
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
};

const PROCESSES = ['order-service', 'redis-server', 'mariadbd'] as const;
const FIELDS = [
  ['RSS', 'rssKiB'],
  ['heap used', 'heapUsedKiB'],
  ['heap total', 'heapTotalKiB'],
  ['external', 'externalKiB'],
] as const;

/** The figure of the headline: CPU-µs per stream per second of each process, each streams window less the baseline window before it. */
export function perStreamSecond(windows: CpuWindow[], streams: number): { name: string; rounds: number[] }[] {
  const names = [...PROCESSES, 'total'];
  const rate = (w: CpuWindow, name: string) => (name === 'total' ? [...w.cpuUs.values()].reduce((s, v) => s + v, 0) : (w.cpuUs.get(name) ?? NaN)) / w.seconds;
  return names.map((name) => ({
    name,
    rounds: windows.flatMap((w, i) => {
      const base = windows[i - 1];
      return w.streams > 0 && base && base.streams === 0 ? [(rate(w, name) - rate(base, name)) / streams] : [];
    }),
  }));
}

export function reportMarkdown(info: RunInfo, memories: MemoryPair[], windows: CpuWindow[], delivery: Delivery): string {
  const cpu = cpus();
  const n = info.streams;
  const mariadbNote = info.namespace
    ? `MariaDB and Redis are private to the network namespace \`${info.namespace}\` the bench ran in, so their CPU is the platform's alone`
    : 'MariaDB is the machine\'s own and shared with other work: its column is noisy, and the figure to go by is order-service + Redis';
  const memRows = FIELDS.map(([label, key]) => {
    const per = memories.map((m) => (m.with[key] - m.before[key]) / n);
    return `| ${label} | ${memories.map((m) => `${fmt(m.before[key] / 1024, 1)} → ${fmt(m.with[key] / 1024, 1)}`).join(' · ')} | ${per.map((x) => fmt(x, 2)).join(' · ')} | **${fmt(median(per), 2)}** |`;
  });
  const perSecond = perStreamSecond(windows, n);
  const windowRows = windows.map(
    (w, i) =>
      `| ${i + 1} | ${fmt(w.streams)} | ${fmt(w.seconds, 1)} | ${PROCESSES.map((p) => fmt((w.cpuUs.get(p) ?? NaN) / w.seconds / 1000, 2)).join(' | ')} | ${fmt(w.heartbeats)} | ${fmt(w.load[0], 2)} → ${fmt(w.load[1], 2)} |`,
  );
  const cpuRows = perSecond.map(({ name, rounds }) => `| ${name} | ${rounds.map((x) => fmt(x, 3)).join(' · ')} | **${fmt(median(rounds), 3)}** |`);
  const ms = (xs: number[]) => `${fmt(median(xs), 1)} | ${fmt(quantile(xs, 0.99), 1)} | ${fmt(Math.max(...xs), 1)}`;
  const beforeAnswer = delivery.fromAnswer.filter((x) => x <= 0).length;
  return [
    '## Live order-status streams (`npm run bench:streams`)',
    '',
    `${info.date} · Node ${info.versions.node} · MariaDB ${info.versions.mariadb} · Redis ${info.versions.redis}${info.privateRedis ? ' (a private redis-server)' : ''} · ` +
      `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}${info.namespace ? ` · network namespace \`${info.namespace}\`` : ''}. ` +
      `One run of ${fmt(info.runSeconds)} s; 1-minute load average ${fmt(info.loadAtStart, 2)} at its start and ${fmt(info.loadAtEnd, 2)} at its end ` +
      `(the machine's ${cpu.length} cores are shared with other work).`,
    '',
    `One order-service instance (the built app, as the e2e harness starts it, with user-service, payment-service and the sandbox beside it, ` +
      `peers called directly, \`LOG_LEVEL=warn\`). ${fmt(info.users)} users signed up at user-service, ${fmt(n)} orders (${fmt(Math.ceil(n / info.users))} per user, ` +
      `the contract's limit of streams per user being 10), one \`GET /v1/orders/{id}/events\` per order, read by the bench over a connection of its own ` +
      `(no agent, a line parser). The bench's own CPU is never counted. ${mariadbNote}.`,
    '',
    '### Memory per open stream',
    '',
    `order-service's RSS (VmRSS of /proc/<pid>/status) and heap (its /metrics, prom-client's default gauges), read ${info.gcForced ? 'after a full GC forced through the inspector (`HeapProfiler.collectGarbage`)' : 'without a forced GC (the inspector could not be reached)'} ` +
      `and a second of rest, just before the ${fmt(n)} streams were opened and 3 s after the last of them had its first event. Per stream = (with − before) / ${fmt(n)}.`,
    '',
    `| figure | MiB before → with ${fmt(n)} streams, by round | KiB per stream, by round | KiB per stream, median |`,
    '| --- | --- | --- | ---: |',
    ...memRows,
    '',
    '### CPU of idle streams',
    '',
    `Windows of ${info.windowSeconds} s with nothing changing, taking turns: ${fmt(0)} streams (the baseline), then ${fmt(n)} streams, ${info.rounds} round${info.rounds === 1 ? '' : 's'} of each, each window after 5 s of rest. ` +
      `CPU is utime + stime of /proc/<pid>/stat, every thread included; each window holds ${Math.floor(info.windowSeconds / 15)} or more 15-s heartbeats (comment, lease renewal, the one version query) ` +
      `and ${Math.floor(info.windowSeconds / 2)} or so 2-s revocation sweeps. Heartbeats counts the \`: keep-alive\` comments the bench read in the window (expected: streams × the 15-s ticks in it).`,
    '',
    '| window | streams | s | order-service ms/s | redis-server ms/s | mariadbd ms/s | heartbeats read | load average |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...windowRows,
    '',
    `CPU-µs per stream per second (each ${fmt(n)}-stream window less the baseline window just before it, divided by ${fmt(n)} streams):`,
    '',
    '| process | by round | median |',
    '| --- | --- | ---: |',
    ...cpuRows,
    '',
    '### Delivery latency under that load',
    '',
    `With the ${fmt(n)} streams open, ${delivery.changes} of the followed orders (spread over the users) cancelled one after another (\`POST /v1/orders/{id}/cancel\`, 100 ms apart), ` +
      `each awaited until its \`CANCELLED\` event had been read on its stream. Load average ${fmt(delivery.load[0], 2)} → ${fmt(delivery.load[1], 2)}. ` +
      `${beforeAnswer} of the ${delivery.changes} events were read before the cancel's answer (negative figures). ` +
      `${fmt(delivery.openAfter)} streams were still open afterwards (a final state ends its stream: ${fmt(n - delivery.changes)} expected).`,
    '',
    '| ms | median | p99 | max |',
    '| --- | ---: | ---: | ---: |',
    `| cancel's answer → event read | ${ms(delivery.fromAnswer)} |`,
    `| cancel sent → event read | ${ms(delivery.fromSend)} |`,
  ].join('\n');
}
