import { cpus, loadavg } from 'node:os';
import { scaled, sum, type Work } from '../http/counters';
import { fmt, median } from '../redis/measure';
import type { Build } from './builds';
import { CLK_TCK } from './proc';
import type { Outcome, Round, RoundSettings } from './rounds';

export interface RunInfo {
  date: string;
  versions: { node: string; mariadb: string; redis: string; wrk: string };
  /** True when Redis is a redis-server the bench started. */
  privateRedis: boolean;
  loadAtStart: number;
  runSeconds: number;
  settings: RoundSettings;
  builds: Build[];
  users: number;
  /** CPU milliseconds per second left alone after the last scenario: each build's four processes, and each server. */
  idleCpu: Record<string, number>;
  /** Redis commands and SQL statements per second, both platforms left alone. */
  idle: Work;
}

const APPS = ['user-service', 'order-service', 'payment-service', 'gateway-sandbox'];
const GROUPS = { services: APPS, redis: ['redis-server'], mysql: ['mariadbd'] };

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
const ratio = (x: number) => `${fmt(x, 2)}×`;
export const load = (): number => loadavg()[0] ?? NaN;

/** CPU µs per request of the named processes in one round. */
const cpuPerRequest = (r: Round, names: string[] = [...r.cpu.keys()]) => names.reduce((s, n) => s + (r.cpu.get(n) ?? 0), 0) / r.answers;

const of = (o: Outcome, label: 'A' | 'B') => o.rounds.filter((r) => r.label === label);

/** B's round n over A's round n. */
function ratios(o: Outcome, f: (r: Round) => number): number[] {
  const a = of(o, 'A');
  return of(o, 'B').map((b, i) => f(b) / f(a[i] as Round));
}

function header(r: RunInfo): string {
  const cpu = cpus();
  const s = r.settings;
  const [a, b] = r.builds as [Build, Build];
  return [
    '## CPU per request, two builds compared (`npm run bench:cpu`)',
    '',
    `${r.date} · ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'} · Node ${r.versions.node} · MariaDB ${r.versions.mariadb} on 127.0.0.1 · ` +
      `Redis ${r.versions.redis} (${r.privateRedis ? 'a private redis-server the bench started' : 'BENCH_REDIS_URL'}) · wrk ${r.versions.wrk}. ` +
      `One run of ${fmt(r.runSeconds / 60, 1)} min, 1-minute load average ${fmt(r.loadAtStart, 1)} at its start and ${fmt(load(), 1)} at its end.`,
    '',
    `**Compared.** A, the base: ${a.description}. B, this: ${b.description}.`,
    '',
    `**Settings.** ${s.rounds} round${s.rounds === 1 ? '' : 's'} of ${s.wrk.seconds} s per scenario and build, interleaved A, B, A, B, … ` +
      (s.restart
        ? `each pair on fresh processes of both builds (BENCH_RESTART=1; which build starts first takes turns) after a ${s.warmupSeconds} s warm-up of each; `
        : `on the same processes throughout, after a ${s.warmupSeconds} s warm-up of each; `) +
      `\`wrk -t ${s.wrk.threads} -c ${s.wrk.connections} --timeout 30s\`. Both platforms are up side by side on the same MariaDB and Redis, each on ` +
      'schemas and Redis prefixes of its own; only the measured one is loaded. One process of each app (built by each tree\'s own ' +
      '`scripts/build.mjs`), started by the e2e harness with `LOG_LEVEL=warn`, `EVENTS_REPLAY_WINDOW_SECONDS=1`, `RATE_LIMIT_MAX=1,000,000,000` ' +
      '(the limiter runs, never refuses) and the sandbox at 0 ms; peers call each other directly, with no balancer in between. ' +
      `${r.users} users signed up on each.`,
  ].join('\n');
}

function perRequestTable(outcomes: Outcome[]): string {
  const lines = [
    '| scenario | build | req/s | CPU-µs / req | services | Redis | MariaDB | SQL statements / req | Redis commands / req |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const o of outcomes) {
    for (const label of ['A', 'B'] as const) {
      const rounds = of(o, label);
      const m = (f: (r: Round) => number) => median(rounds.map(f));
      const counters = scaled(sum(rounds.map((r) => r.work)), 1 / rounds.reduce((s, r) => s + r.answers, 0));
      lines.push(
        row([
          label === 'A' ? o.name : '',
          label,
          fmt(m((r) => r.perSecond)),
          `**${fmt(m((r) => cpuPerRequest(r)))}**`,
          fmt(m((r) => cpuPerRequest(r, GROUPS.services))),
          fmt(m((r) => cpuPerRequest(r, GROUPS.redis))),
          fmt(m((r) => cpuPerRequest(r, GROUPS.mysql))),
          fmt(counters.questions, 2),
          fmt(counters.commands, 2),
        ]),
      );
    }
  }
  return lines.join('\n');
}

function ratioTable(outcomes: Outcome[]): string {
  const lines = [
    '| scenario | CPU-µs / req, B ÷ A: median | range | by round | req/s, B ÷ A: median | range | by round |',
    '| --- | ---: | ---: | --- | ---: | ---: | --- |',
  ];
  const cells = (xs: number[]) => [`**${ratio(median(xs))}**`, `${fmt(Math.min(...xs), 2)}–${fmt(Math.max(...xs), 2)}`, xs.map((x) => fmt(x, 2)).join(' · ')];
  for (const o of outcomes) lines.push(row([o.name, ...cells(ratios(o, (r) => cpuPerRequest(r))), ...cells(ratios(o, (r) => r.perSecond))]));
  return lines.join('\n');
}

function byProcess(outcomes: Outcome[]): string {
  const lines = [
    `| scenario | build | ${APPS.join(' | ')} | CPU-µs / req by round (all processes) |`,
    `| --- | --- | ${APPS.map(() => '---:').join(' | ')} | --- |`,
  ];
  for (const o of outcomes) {
    for (const label of ['A', 'B'] as const) {
      const rounds = of(o, label);
      const perApp = APPS.map((app) => fmt(median(rounds.map((r) => cpuPerRequest(r, [app])))));
      lines.push(row([label === 'A' ? o.name : '', label, ...perApp, rounds.map((r) => fmt(cpuPerRequest(r))).join(' · ')]));
    }
  }
  return lines.join('\n');
}

function notes(r: RunInfo): string {
  const idle = Object.entries(r.idleCpu)
    .map(([name, ms]) => `${name} ${fmt(ms, 1)}`)
    .join(', ');
  return [
    '### How to read it',
    '',
    `- **CPU-µs / req**: the round's \`utime + stime\` (from \`/proc/<pid>/stat\`, every thread, ${CLK_TCK} ticks a second) of the loaded ` +
      "build's four processes (user-service, order-service, payment-service, gateway-sandbox), redis-server and mariadbd, from just before wrk " +
      'starts to the end of the round, divided by the answers wrk counted (all 2xx: any other answer or socket error stops the bench; the payments: ' +
      'by the orders that turned PAID during the round, those still in flight when wrk stopped included). wrk ' +
      'itself and the bench\'s own process are not counted. Each figure is the median over the rounds, each column its own median, so the ' +
      'split need not add up to the total exactly.',
    '- **End of a round**: when wrk stops, for the reads and the creates; for the payments, when every answered payment\'s order reads PAID (and the count has held still for 200 ms) ' +
      "at order-service (polled every 50 ms from the bench), so the outbox relay, the event and order-service's handling of it are counted " +
      'in the payment.',
    `- **Left alone** after the last scenario (5 s of rest, then 5 s measured), CPU milliseconds per second: ${idle}. The idle build and both servers keep that up during the other's rounds (outbox ` +
      'polls, stream reads); it is in the Redis and MariaDB figures, spread over the round\'s answers, and matters only where answers are few ' +
      '(the payments).',
    `- **SQL statements and Redis commands / req**: MariaDB's global \`Questions\` and the sum of Redis's \`INFO commandstats\` deltas ` +
      '(commands run inside Lua scripts included), over all of a build\'s rounds divided by its answers, with what both platforms do left ' +
      `alone taken out (${fmt(r.idle.commands)} Redis commands/s, ${fmt(r.idle.questions)} SQL statements/s, measured before the first ` +
      'scenario) and the bench\'s own readings and PAID polls too. Both servers serve A and B, so the deltas mean something only because the rounds ' +
      'run one at a time.',
    '- **B ÷ A**: round n of B over round n of A, which ran just before it; the median and the range of those ratios. A and B built from the ' +
      'same code (an A/A run) show the noise of the method: how far from 1.00 a ratio can be by chance.',
  ].join('\n');
}

export function reportMarkdown(r: RunInfo, outcomes: Outcome[]): string {
  return [
    header(r),
    perRequestTable(outcomes),
    '### B ÷ A, round by round',
    ratioTable(outcomes),
    '### Services, by process (CPU-µs / req, median over rounds)',
    byProcess(outcomes),
    notes(r),
  ].join('\n\n');
}
