import { cpus } from 'node:os';
import { scaled, sum, type Work } from '../http/counters';
import { fmt } from '../redis/measure';
import { CLK_TCK } from '../cpu/proc';
import type { Outcome, Round, RoundSettings } from '../cpu/rounds';
import { ESSENTIAL_PLUS_READ, evaluate, median, PLATFORM, ratio, seriesOf, type Counts, type ScenarioFigures, type Verdict } from './goals';

export interface CompareInfo {
  date: string;
  versions: { node: string; mariadb: string; redis: string; wrk: string };
  privateRedis: boolean;
  loadAtStart: number;
  loadAtEnd: number;
  runSeconds: number;
  settings: RoundSettings;
  payConcurrency: number[];
  platform: string;
  users: number;
  /** Redis commands and SQL statements per second, everything left alone. */
  idle: Work;
}

export interface Scenario {
  key: string;
  outcome: Outcome;
  /** The labels to compare the platform with, in the order shown. */
  references: string[];
}

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
const x = (v: number) => `${fmt(v, 2)}×`;
const SERVERS = new Set(['redis-server', 'mariadbd']);

const cpuOf = (r: Round, only?: (name: string) => boolean) => [...r.cpu].filter(([n]) => !only || only(n)).reduce((s, [, us]) => s + us, 0) / r.answers;

/** The pure figures the goals are judged on. */
export function figuresOf(s: Scenario): ScenarioFigures {
  const labels = [...new Set(s.outcome.rounds.map((r) => r.label))];
  const counts: Record<string, Counts> = {};
  for (const label of labels) {
    const rounds = s.outcome.rounds.filter((r) => r.label === label);
    const answers = rounds.reduce((t, r) => t + r.answers, 0);
    const work = scaled(sum(rounds.map((r) => r.work)), 1 / answers);
    const counted = rounds.every((r) => r.internalCalls !== undefined);
    counts[label] = { sql: work.questions, redis: work.commands, calls: counted ? rounds.reduce((t, r) => t + (r.internalCalls as number), 0) / answers : undefined };
  }
  return {
    key: s.key,
    name: s.outcome.name,
    rounds: s.outcome.rounds.map((r) => ({ label: r.label, perSecond: r.donePerSecond ?? r.perSecond, cpuUs: cpuOf(r) })),
    counts,
  };
}

function figuresTable(scenarios: Scenario[]): string {
  const lines = [
    '| scenario | contender | req/s | done / s, end to end | CPU-µs / req | its processes | Redis | MariaDB | SQL / req | Redis commands / req | internal HTTP / req | load average |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const s of scenarios) {
    const f = figuresOf(s);
    const labels = [...new Set(s.outcome.rounds.map((r) => r.label))];
    labels.forEach((label, i) => {
      const rounds = s.outcome.rounds.filter((r) => r.label === label);
      const m = (g: (r: Round) => number) => median(rounds.map(g));
      const c = f.counts[label] as Counts;
      const loads = rounds.map((r) => r.load);
      lines.push(
        row([
          i === 0 ? s.outcome.name : '',
          label,
          fmt(m((r) => r.perSecond)),
          rounds.every((r) => r.donePerSecond !== undefined) ? fmt(m((r) => r.donePerSecond as number)) : '—',
          `**${fmt(m((r) => cpuOf(r)))}**`,
          fmt(m((r) => cpuOf(r, (n) => !SERVERS.has(n)))),
          fmt(m((r) => cpuOf(r, (n) => n === 'redis-server'))),
          fmt(m((r) => cpuOf(r, (n) => n === 'mariadbd'))),
          fmt(c.sql, 2),
          fmt(c.redis, 2),
          c.calls === undefined ? '—' : fmt(c.calls, 2),
          `${fmt(Math.min(...loads), 1)}–${fmt(Math.max(...loads), 1)}`,
        ]),
      );
    });
    if (s.references.includes(ESSENTIAL_PLUS_READ)) {
      const sum = seriesOf(f, ESSENTIAL_PLUS_READ);
      lines.push(row(['', `*${ESSENTIAL_PLUS_READ}*`, '', `*${fmt(median(sum.map((r) => r.perSecond)))}*`, `***${fmt(median(sum.map((r) => r.cpuUs)))}***`, '', '', '', '', '', '', '']));
    }
  }
  return lines.join('\n');
}

function ratioTable(scenarios: Scenario[]): string {
  const lines = [
    "| scenario | reference | reference's CPU-µs ÷ the platform's: median | range | by round | the platform's rate ÷ the reference's: median | range |",
    '| --- | --- | ---: | ---: | --- | ---: | ---: |',
  ];
  for (const s of scenarios) {
    const f = figuresOf(s);
    s.references.forEach((ref, i) => {
      const cpu = ratio(f, ref, PLATFORM, 'cpuUs');
      const rate = ratio(f, PLATFORM, ref, 'perSecond');
      const range = (xs: number[]) => `${fmt(Math.min(...xs), 2)}–${fmt(Math.max(...xs), 2)}`;
      lines.push(row([i === 0 ? s.outcome.name : '', ref, `**${x(cpu.median)}**`, range(cpu.rounds), cpu.rounds.map((v) => fmt(v, 2)).join(' · '), x(rate.median), range(rate.rounds)]));
    });
  }
  return lines.join('\n');
}

/** The platform's CPU-µs per request by process (each column the median of its rounds): where a request's cost goes. */
export function processTable(scenarios: Scenario[]): string {
  const rounds = scenarios.map((s) => ({ name: s.outcome.name, rounds: s.outcome.rounds.filter((r) => r.label === PLATFORM) })).filter((s) => s.rounds.length > 0);
  const names = [...new Set(rounds.flatMap((s) => s.rounds.flatMap((r) => [...r.cpu.keys()])))].sort((a, b) => Number(SERVERS.has(a)) - Number(SERVERS.has(b)) || a.localeCompare(b));
  if (names.length === 0) return 'The platform ran in no scenario.';
  const lines = [row(['scenario', ...names]), row(['---', ...names.map(() => '---:')])];
  for (const s of rounds) lines.push(row([s.name, ...names.map((n) => fmt(median(s.rounds.map((r) => (r.cpu.get(n) ?? 0) / r.answers))))]));
  return lines.join('\n');
}

/** The platform's internal calls per request, by the app that answered them, method, route and status. */
function callsTable(scenarios: Scenario[]): string {
  const lines = ['| scenario | answered by, method, route, status | calls / req |', '| --- | --- | ---: |'];
  for (const s of scenarios) {
    const rounds = s.outcome.rounds.filter((r) => r.label === PLATFORM && r.callsByRoute);
    const answers = rounds.reduce((t, r) => t + r.answers, 0);
    const total = new Map<string, number>();
    for (const r of rounds) for (const [route, n] of r.callsByRoute ?? []) total.set(route, (total.get(route) ?? 0) + n);
    [...total].sort(([a], [b]) => a.localeCompare(b)).forEach(([route, n], i) => lines.push(row([i === 0 ? s.outcome.name : '', `\`${route}\``, fmt(n / answers, 3)])));
  }
  return lines.length > 2 ? lines.join('\n') : 'None in any scenario.';
}

export function goalLines(verdicts: Verdict[]): string[] {
  return verdicts.map((v) => {
    const value = /µs|÷/.test(v.goal.what) ? x(v.value) : fmt(v.value, 2);
    const limit = /µs|÷/.test(v.goal.what) ? `${v.goal.limit}×` : String(v.goal.limit);
    return `- **${v.pass ? 'pass' : 'miss'}** · ${v.scenario}: ${v.goal.what} = ${value} (goal ${v.goal.op} ${limit})`;
  });
}

export function reportMarkdown(r: CompareInfo, scenarios: Scenario[]): string {
  const cpu = cpus();
  const s = r.settings;
  const verdicts = evaluate(scenarios.map(figuresOf));
  const passed = verdicts.filter((v) => v.pass).length;
  return [
    '## What a user pays: the platform against references in the same run (`npm run bench:compare`)',
    '',
    `${r.date} · ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'} · Node ${r.versions.node} · MariaDB ${r.versions.mariadb} · ` +
      `Redis ${r.versions.redis} (${r.privateRedis ? 'a private redis-server the bench started' : 'BENCH_REDIS_URL'}) · wrk ${r.versions.wrk}. ` +
      `One run of ${fmt(r.runSeconds / 60, 1)} min, 1-minute load average ${fmt(r.loadAtStart, 1)} at its start and ${fmt(r.loadAtEnd, 1)} at its end.`,
    '',
    `**Platform.** ${r.platform}.`,
    '',
    `**Settings.** ${s.rounds} round${s.rounds === 1 ? '' : 's'} of ${s.wrk.seconds} s per scenario and contender, interleaved (round 1 of each ` +
      `contender in turn, then round 2, …) after a ${s.warmupSeconds} s warm-up of each; \`wrk -t ${s.wrk.threads} -c ${s.wrk.connections}\` ` +
      `(the payments: \`-c ${r.payConcurrency.join('`, `-c ')}\`). Everything up side by side on the same MariaDB and Redis; only the measured one is loaded. ` +
      `${r.users} users signed up at the platform's user-service; the references verify the same tokens.`,
    '',
    '### Goals',
    '',
    `${passed} of ${verdicts.length} met in this run.`,
    '',
    ...goalLines(verdicts),
    '',
    '### Per request (medians over the rounds)',
    '',
    figuresTable(scenarios),
    '',
    '### Ratios to the references (median of the rounds\' ratios, each round against the same round of the reference)',
    '',
    ratioTable(scenarios),
    '',
    "### The platform's CPU-µs per request, by process (medians over its rounds)",
    '',
    processTable(scenarios),
    '',
    "### The platform's internal HTTP calls, by route (all its rounds)",
    '',
    callsTable(scenarios),
    '',
    '### How to read it',
    '',
    `- **CPU-µs / req**: \`utime + stime\` from \`/proc/<pid>/stat\` (${CLK_TCK} ticks a second, every thread) of the loaded contender's processes, ` +
      'redis-server and mariadbd, from just before wrk starts until the answers\' work is done, divided by the requests done. wrk\'s count leaves out the requests ' +
      "still in flight when it stops, whose work is in the round, so the payments are counted as the orders that turned PAID during the round " +
      "(platform and essential reference alike); the platform's reads and creates as the 2xx answers of the load's route its own metrics counted; " +
      "a reference's reads and creates as wrk counted them, which can make its figures high by at most wrk's connections over the round's answers " +
      '(under 0.5% here). Any ' +
      "answer other than a 2xx stops the bench. The platform's processes: user-service, order-service, payment-service and the sandbox provider; a reference's: its " +
      'own process (and the sandbox for the essential payment, which charges there). wrk and the bench are not counted.',
    "- **End of a payment round**: when every answered payment's order reads PAID and the count has held still for 200 ms (the platform: at order-service, after its outbox relay and event " +
      "handling; the essential reference: after its consumer's UPDATE), polled every 50 ms; the polls' statements are taken out.",
    "- **done / s, end to end** (the payments): the payments whose orders turned PAID in the round, over the wrk run's seconds plus the wait, after it, " +
      'until the poll that first read the final count. req/s is what wrk saw answered; a contender whose events are applied behind its answers ' +
      "(a backlog that grows under the load) answers faster than it pays. The payment's rate goal and the rate ratios are judged on this end-to-end rate; " +
      "the order read's rate is its answers'.",
    `- **SQL / Redis commands**: MariaDB's global \`Questions\` and the sum of Redis's \`INFO commandstats\` (commands inside scripts included), over all ` +
      `of a contender's rounds divided by its answers, less what everything does left alone (${fmt(r.idle.commands)} commands/s, ${fmt(r.idle.questions)} statements/s).`,
    "- **Internal HTTP / req**: requests answered by the platform's four processes (their own `http_request_duration_seconds_count`) other than the " +
      "load's own, `/metrics` and `/health`, per answer: calls between the services and to the sandbox provider. A reference's column counts what the " +
      "platform's processes answered during its rounds: the sandbox's charges for the essential payment, none for the others.",
    `- **${ESSENTIAL_PLUS_READ}**: not a process. Per round, the essential payment's CPU-µs plus the CPU-µs of the essential reference's own ` +
      '`GET /v1/orders/{id}` of an order it never served (token check, a Redis GET that misses, one SELECT, a SET), measured in its own interleaved ' +
      "rounds at the same concurrency; its rate is that of doing both one after the other, 1 / (1 / payments/s + 1 / reads/s). The platform's " +
      'payment reads its order from order-service over HTTP; the essential reference reads it with one SELECT in-process: the read is the allowance for that.',
    '- **Ratios**: each of the platform\'s rounds over the reference\'s round of the same number (run moments apart), then the median. Goals are judged ' +
      "on CPU-µs per request (the headline figure) and, for the payment's rate, on its done / s end to end; the SQL, Redis and HTTP goals on the platform's counts.",
  ].join('\n');
}
