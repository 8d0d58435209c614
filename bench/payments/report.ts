import { cpus, loadavg } from 'node:os';
import { fmt } from '../redis/measure';
import { spread, type Run } from './load';

/** One concurrency level: the payments and, at the same concurrency, the two baselines. */
export interface Level {
  concurrency: number;
  payments: Run;
  orderCreates: Run;
  sandboxCharges: Run;
  check: Check;
}

/** What the platform holds after a level's payments, read back over HTTP. */
export interface Check {
  paid: number;
  /** Of the orders whose payment succeeded, how many show PAID; the rest by status. */
  ordersPaid: number;
  otherStatuses: Record<string, number>;
  /** From the level's last answer until the last orders paid read PAID; null if the wait gave up. */
  allPaidAfterMs: number | null;
  /** Orders whose sandbox ledger holds exactly one charge, succeeded, of the order's total, not refunded. */
  ledgerExact: number;
}

const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
const ms = (x: number) => fmt(x, x < 10 ? 1 : 0);
const ratio = (x: number) => `${fmt(x, 2)}×`;
const tally = (t: Record<string, number>) =>
  Object.entries(t)
    .map(([why, n]) => `${why} ×${n}`)
    .join('; ') || '—';

/** The 1-minute load average, so that a reader knows whether other work shared the machine. */
export const load = (): string => fmt(loadavg()[0] ?? NaN, 1);

export function header(mariadb: string, runMs: number, users: number, count: number, loadAtStart: string): string {
  const cpu = cpus();
  return [
    '## Payments end to end (`npm run bench:payments`)',
    '',
    `${new Date().toISOString().slice(0, 10)} · Node ${process.version} · MariaDB ${mariadb} on 127.0.0.1 · a private redis-server · ` +
      `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}. One run of ${fmt(runMs / 1000)} s; ` +
      `1-minute load average ${loadAtStart} at its start and ${load()} at its end (the bench itself keeps about ${cpu.length} busy).`,
    '',
    'The four real processes (user-service, order-service, payment-service, gateway-sandbox with GATEWAY_LATENCY_MS=0), each run from its ' +
      'sources with tsx on schemas of the bench\'s own, wired by URL, sharing the auth and events prefixes. ' +
      `${users} users registered and signed in at user-service. A payment is a new order at order-service (POST /v1/orders) followed by ` +
      'POST /v1/payments with tok_visa and a key of its own, `in flight` of them at a time, each caller awaiting its pair before the next. ' +
      `${fmt(count)} per contender and level.`,
    '',
    'Baselines, same run, same concurrency, the three contenders taking turns in rotating order: POST /v1/charges straight at the sandbox ' +
      '(what the provider alone does) and POST /v1/orders alone (the first half of every payment). The bench client, the four Node ' +
      `processes, MariaDB and Redis all share these ${cpu.length} cores, so the ratios carry over to another machine better than the rates.`,
  ].join('\n');
}

export function throughputMarkdown(levels: Level[]): string {
  return [
    '### Throughput',
    '',
    '| in flight | payments/s | order creates/s | sandbox charges/s | payments ÷ order creates | payments ÷ sandbox charges | POST /v1/payments ms, p50 / p95 / p99 | POST /v1/orders ms inside a payment, p50 / p95 |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...levels.map((l) => {
      const post = spread(l.payments.timings['pay']);
      const create = spread(l.payments.timings['create']);
      return row([
        l.concurrency,
        fmt(l.payments.perSecond),
        fmt(l.orderCreates.perSecond),
        fmt(l.sandboxCharges.perSecond),
        ratio(l.payments.perSecond / l.orderCreates.perSecond),
        ratio(l.payments.perSecond / l.sandboxCharges.perSecond),
        `${ms(post.p50)} / ${ms(post.p95)} / ${ms(post.p99)}`,
        `${ms(create.p50)} / ${ms(create.p95)}`,
      ]);
    }),
    '',
    'Rates count successful operations over the wall time of the whole batch. A payment takes one order create and one POST /v1/payments, ' +
      'so `payments ÷ order creates` at 0.5× would mean the payment call costs as much as the create.',
  ].join('\n');
}

export function checkMarkdown(levels: Level[]): string {
  return [
    '### Did the money move once, and did every order follow?',
    '',
    'Read back over HTTP once the events have settled, every order of the level (not a sample): its status at order-service, ' +
      "and the sandbox's ledger for it (GET /v1/charges?orderId=).",
    '',
    '| in flight | payments sent | 201 SUCCEEDED | orders PAID | last answer → its order PAID | one succeeded charge of the order total | other answers | baseline failures |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    ...levels.map((l) =>
      row([
        l.concurrency,
        fmt(l.payments.count),
        fmt(l.payments.succeeded),
        `${fmt(l.check.ordersPaid)}${Object.keys(l.check.otherStatuses).length ? ` (${tally(l.check.otherStatuses)})` : ''}`,
        l.check.allPaidAfterMs === null ? '**not all**' : `≤ ${fmt(l.check.allPaidAfterMs)} ms`,
        fmt(l.check.ledgerExact),
        tally(l.payments.failures),
        tally({ ...l.orderCreates.failures, ...l.sandboxCharges.failures }),
      ]),
    ),
    '',
    "`last answer → its order PAID`: from the level's last answer until the orders of the last 32 payments answered all read PAID " +
      '(polled every 20 ms). Events are relayed and consumed in order, so this is how long the backlog the load built took to drain.',
  ].join('\n');
}

export function goalsMarkdown(levels: Level[]): string {
  const check = (ok: boolean) => (ok ? 'met' : '**not met**');
  const all = (f: (l: Level) => boolean) => levels.every(f);
  const rows: [string, string, boolean][] = [
    ['every payment 201 SUCCEEDED', levels.map((l) => `${l.payments.succeeded}/${l.payments.count}`).join(', '), all((l) => l.payments.succeeded === l.payments.count)],
    ['every paid order PAID', levels.map((l) => `${l.check.ordersPaid}/${l.check.paid}`).join(', '), all((l) => l.check.ordersPaid === l.check.paid)],
    ['exactly one succeeded charge per paid order', levels.map((l) => `${l.check.ledgerExact}/${l.check.paid}`).join(', '), all((l) => l.check.ledgerExact === l.check.paid)],
    [
      'the last payments\' orders PAID within 2 s of the level\'s last answer',
      levels.map((l) => (l.check.allPaidAfterMs === null ? 'not all' : `${fmt(l.check.allPaidAfterMs)} ms`)).join(', '),
      all((l) => l.check.allPaidAfterMs !== null && l.check.allPaidAfterMs <= 2_000),
    ],
  ];
  return ['### Goals', '', '| goal | measured (per level) | |', '| --- | --- | --- |', ...rows.map(([goal, measured, ok]) => row([goal, measured, check(ok)]))].join('\n');
}
