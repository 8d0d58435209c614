import { cpus, loadavg } from 'node:os';
import { fmt } from '../redis/measure';
import type { Work } from './counters';
import type { ListData } from './lists';
import { summary, type Outcome, type Settings } from './measure';
import { median } from '../redis/measure';

export interface RunInfo {
  date: string;
  versions: { node: string; mariadb: string; redis: string; wrk: string };
  commit: string;
  /** `git status --porcelain` of apps/, libs/ and migrations/ at the start: what was built besides the commit. */
  dirty: string[];
  loadAtStart: number;
  runSeconds: number;
  settings: Settings;
  baselineBytes: number;
  lists: ListData[];
  pools: Record<string, number>;
  users: number;
}

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
const ms = (x: number) => fmt(x, x < 10 ? 2 : 1);
const per = (x: number) => fmt(x, 2);

export const load = (): number => loadavg()[0] ?? NaN;

function header(r: RunInfo): string {
  const cpu = cpus();
  const s = r.settings;
  const dirty = r.dirty.length > 0 ? `, with uncommitted changes to ${r.dirty.join(', ')}` : '';
  return [
    '## HTTP load through the built services (`npm run bench:http`)',
    '',
    `${r.date} · ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'} · Node ${r.versions.node} · MariaDB ${r.versions.mariadb} on 127.0.0.1 (the machine's, shared) · ` +
      `Redis ${r.versions.redis} (a private redis-server the bench started) · wrk ${r.versions.wrk}. One run of ${fmt(r.runSeconds / 60, 1)} min, ` +
      `1-minute load average ${fmt(r.loadAtStart, 1)} at its start and ${fmt(load(), 1)} at its end. Apps built from ${r.commit}${dirty}.`,
    '',
    `**Settings.** ${s.rounds} round${s.rounds === 1 ? '' : 's'} of ${s.wrk.seconds} s per scenario (${s.hitRounds} for the cache hit and its reference: ` +
      'they take little time, and the hot path is judged by their ratio, which moves from round to round on a shared machine), ' +
      'interleaved with as many of the baseline (baseline, scenario, baseline, …), ' +
      `after a ${s.warmupSeconds} s warm-up of each; \`wrk -t ${s.wrk.threads} -c ${s.wrk.connections} --timeout 30s --latency\`: ${s.wrk.connections} connections, ` +
      'each sending its next request when the last one is answered, so req/s is the most the platform serves here and p50/p99 include the ' +
      'queueing at that load (wrk, not wrk2: no correction for coordinated omission). Figures are medians over the rounds; `÷ baseline` is the ' +
      'median of each round\'s ratio to the baseline round just before it. wrk, the four Node processes, MariaDB and Redis share these ' +
      `${cpu.length} cores, so the ratios carry over to another machine better than the rates.`,
    '',
    '**Platform.** The built apps (`scripts/build.mjs`), one process each of user-service, order-service, payment-service and gateway-sandbox ' +
      '(GATEWAY_LATENCY_MS=0), started by the e2e harness (`e2e/src/platform.ts`) on the normal schemas after `db:setup` and every migration. ' +
      `RATE_LIMIT_MAX=1,000,000,000 per 60 s: nothing is throttled, and every /v1 request still runs the limiter's check. Every request carries the ` +
      `Bearer token of one of ${r.users} users signed up and logged in at user-service, checked against the JWKS and for revocation.`,
    '',
    `**Baseline.** A bare Fastify app (\`fastify()\` and one route, nothing else) in a process of its own on the same Node, answering ` +
      `GET /v1/orders/:id with the exact JSON a cached order read answers (${fmt(r.baselineBytes)} bytes).`,
  ].join('\n');
}

function table(outcomes: Outcome[]): string {
  const base = outcomes.flatMap((o) => o.baselines);
  const lines = [
    '| scenario | req/s | p50 ms | p99 ms | ÷ baseline | Redis round trips / request | Redis commands / request | SQL statements / request |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    row([
      `baseline: bare Fastify, same JSON (${base.length} rounds)`,
      fmt(median(base.map((b) => b.perSecond))),
      ms(median(base.map((b) => b.p50Ms))),
      ms(median(base.map((b) => b.p99Ms))),
      '1.00×',
      '—',
      '—',
      '—',
    ]),
  ];
  for (const o of outcomes) {
    const s = summary(o);
    const w = o.perRequest;
    lines.push(row([o.name, fmt(s.perSecond), ms(s.p50Ms), ms(s.p99Ms), `${fmt(s.ratio, 2)}×`, per(w.reads), per(w.commands), per(w.questions)]));
  }
  return lines.join('\n');
}

const breakdown = (w: Work) =>
  [...w.calls]
    .filter(([, n]) => n >= 0.005)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([name, n]) => `${name} ${fmt(n, 2)}`)
    .join(' · ') || '—';

function details(outcomes: Outcome[]): string {
  return [
    '### Per scenario',
    '',
    '| scenario | answers (all rounds) | req/s by round | Redis commands / request, by command |',
    '| --- | ---: | --- | --- |',
    ...outcomes.map((o) =>
      row([o.name, fmt(o.rounds.reduce((s, r) => s + r.requests, 0)), o.rounds.map((r) => fmt(r.perSecond)).join(' · '), breakdown(o.perRequest)]),
    ),
  ].join('\n');
}

function notes(r: RunInfo, outcomes: Outcome[]): string {
  const idle = (f: (w: Work) => number) => {
    const xs = outcomes.map((o) => f(o.idle));
    return `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
  };
  const seeded = r.lists
    .map((l) => `${l.label}: ${l.seed.added > 0 ? `${fmt(l.seed.added)} orders seeded in ${fmt(l.seconds, 1)} s` : `already seeded (${fmt(l.seed.total)} orders, kept from an earlier run)`}`)
    .join('; ');
  const pools = Object.entries(r.pools)
    .map(([name, n]) => `${name} ${fmt(n)}`)
    .join(', ');
  return [
    '### How each scenario is driven',
    '',
    '- **GET /v1/orders/{id}, cache hit**: one order of one user, read once before the warm-up, so every measured read is served from Redis.',
    '- **reference: bare Fastify + the admission script** (`bench/http/floor-server.ts`): not the platform. A bare Fastify app ' +
      'whose route sends the bench\'s Redis what a cached read sends it: the request pipeline\'s admission script (libs/redis ADMISSION_LUA: ' +
      'the revocation MGET, the GCRA step and the cache entry, the same keys\' shape), over an ioredis client with the services\' options ' +
      '(auto-pipelining), and answers the cached JSON after parsing and serialising it, as the platform does: the floor of the cache hit\'s ' +
      'design. What the cache hit costs beyond it is the rest of the platform\'s stack (token check, hooks, request ids, rate-limit fields, ' +
      'metrics, logging).',
    '- **cache miss**: every request reads an order the platform has never served, so each one misses the cache, reads MySQL and fills the ' +
      'cache entry. The orders are seeded into order_service as bench:orders seeds (PENDING, one item), owned by the users in turn; wrk\'s ' +
      'Lua script gives each request the next order and its owner\'s token.',
    `- **GET /v1/orders page**: the measured user's page of 20 after 1,500 of their 2,000 orders (its cursor found by walking the list), on a ` +
      'second order-service process, the same build, started for the scenario on a schema of its own seeded by bench:orders\' seeding to 10k and ' +
      `to 1M orders in all (${seeded}; dropped at the end unless BENCH_KEEP=1). Its token is the platform's, re-signed for the measured user.`,
    '- **POST /v1/orders**: the same body every time, 1 or 100 items, no Idempotency-Key (it is optional there).',
    '- **POST /v1/payments**: a new PENDING order per request (seeded as above), `tok_visa`, a fresh Idempotency-Key. payment-service reads the ' +
      'order from order-service and charges at the sandbox through the e2e harness\'s balancers (a Node proxy per peer, in the bench\'s ' +
      'process), as a load balancer stands between services in production; that hop is in the figure. After each round the bench waits until ' +
      'Redis is idle again, so the events that mark the orders PAID are counted in the payment\'s Redis and SQL figures.',
    `- Pools of never-served orders this run: ${pools}. The run's users' orders and payments are deleted at its end.`,
    '',
    '### Counters',
    '',
    'Round trips are the `total_reads_processed` delta of the private redis-server (read events on client sockets) and commands the sum of ' +
      'the `INFO commandstats` deltas, commands run inside Lua scripts included (an EVALSHA counts once, and each `redis.call` in it once more). ' +
      'Under load the services write several requests\' commands in one go (ioredis auto-pipelining), so round trips per request ' +
      'can be below the number of sequential round trips one request makes alone. SQL statements are the delta of MariaDB\'s global `Questions`. ' +
      'Both are divided by the answers wrk counted, over all rounds; up to one in-flight request per connection is served after wrk stops ' +
      'counting, which overstates the figures by at most connections ÷ answers. Before each scenario the bench waits until Redis is quiet ' +
      '(at start, the fresh Redis is replayed the outboxes\' recent events, earlier runs\' on the shared schemas included, and order-service ' +
      `consumes them for a while), then leaves the platform alone for ${fmt(r.settings.idleMs / 1000, 1)} s; what it does anyway at that rate (outbox polls, stream reads, revocation checks: ` +
      `${idle((w) => w.commands)} Redis commands/s, ${idle((w) => w.questions)} SQL statements/s) is taken out of the rounds' deltas. ` +
      "**MariaDB is the machine's shared server**: statements other clients send meanwhile (another engineer's tests) are counted too, during " +
      'the rounds (too high) as during the idle window (too low), so the SQL column is noisy where the Redis columns are exact.',
  ].join('\n');
}

export function reportMarkdown(r: RunInfo, outcomes: Outcome[]): string {
  return [header(r), table(outcomes), details(outcomes), notes(r, outcomes)].join('\n\n');
}
