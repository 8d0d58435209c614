import { fmt } from '../redis/measure';
import type { Latency } from './measure';
import { ratio, row, size, type Phase } from './report';
import { PAGES, PAGE_SIZE, WHOLE_TABLE } from './sql';

/** Timed at the end, both sizes side by side: `<size> · <app|keyset|OFFSET> · <page>`. */
export type Timings = Record<string, Latency>;
export const timingKey = (sizeLabel: string, kind: 'app' | 'keyset' | 'OFFSET', name: string): string => `${sizeLabel} · ${kind} · ${name}`;

const ms = (x: number) => fmt(x, x < 10 ? 2 : 1);
const lat = (l: Latency) => `${ms(l.medianMs)} / ${ms(l.p95Ms)}`;

function at(t: Timings, p: Phase, kind: 'app' | 'keyset' | 'OFFSET', name: string): Latency {
  const l = t[timingKey(size(p), kind, name)];
  if (!l) throw new Error(`no timing for ${timingKey(size(p), kind, name)}`);
  return l;
}

/** The contenders sampled less than the rest because each request took long. */
function fewer(t: Timings, samples: number): string {
  const less = Object.entries(t)
    .filter(([, l]) => l.samples < samples)
    .map(([key, l]) => `${key}: ${l.samples}`);
  return less.length > 0 ? ` except ${less.join('; ')} (a 4 s budget each)` : '';
}

export function latencyMarkdown([small, large]: [Phase, Phase], t: Timings, samples: number): string {
  const [a, b] = [size(small), size(large)];
  const names = [...PAGES.map((p) => p.name), WHOLE_TABLE];
  return [
    `### List page latency through the app (GET /v1/orders?limit=${PAGE_SIZE} by app.inject, one request at a time)`,
    '',
    `| page | ms, ${a} | ms, ${b} | ${b} ÷ ${a} (median) | statements, rows read per request (${a} / ${b}) |`,
    '| --- | ---: | ---: | ---: | --- |',
    ...PAGES.map(({ name }) => {
      const [x, y] = [at(t, small, 'app', name), at(t, large, 'app', name)];
      const counts = (p: Phase) => `${p.app.perPage[name].statements.mode}, ${p.app.perPage[name].rowsRead.mode}`;
      return row([name, lat(x), lat(y), ratio(y.medianMs / x.medianMs), `${counts(small)} / ${counts(large)}`]);
    }),
    '',
    '### The orders statement alone: keyset against OFFSET',
    '',
    `| page | keyset ms, ${a} | OFFSET ms, ${a} | keyset ms, ${b} | OFFSET ms, ${b} | OFFSET ÷ keyset, ${a} | OFFSET ÷ keyset, ${b} | keyset ${b} ÷ ${a} |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...names.map((name) => {
      const [k1, o1, k2, o2] = [at(t, small, 'keyset', name), at(t, small, 'OFFSET', name), at(t, large, 'keyset', name), at(t, large, 'OFFSET', name)];
      return row([name, lat(k1), lat(o1), lat(k2), lat(o2), ratio(o1.medianMs / k1.medianMs), ratio(o2.medianMs / k2.medianMs), ratio(k2.medianMs / k1.medianMs)]);
    }),
    '',
    `Milliseconds are median / p95 over ${samples} requests each${fewer(t, samples)}, all contenders taking turns in the same rounds.`,
  ].join('\n');
}

export function goalsMarkdown([small, large]: [Phase, Phase], t: Timings): string {
  const check = (ok: boolean) => (ok ? 'met' : '**not met**');
  const pageRows = [small, large].flatMap((p) => PAGES.map(({ name }) => p.sql.pages[name].keyset.cost.rowsRead));
  const sameRows = PAGES.every(({ name }) => small.sql.pages[name].keyset.cost.rowsRead === large.sql.pages[name].keyset.cost.rowsRead);
  const creates = [small, large].flatMap((p) => [p.app.statementsPerCreate['1 item'].mode, p.app.statementsPerCreate['100 items'].mode]);
  const latencyRatios = PAGES.map(({ name }) => at(t, large, 'app', name).medianMs / at(t, small, 'app', name).medianMs);
  const grow = large.seed.insertMs / 1000;
  const goals: [string, string, boolean][] = [
    [`orders query reads ≤ ${PAGE_SIZE + 2} rows, every page, both sizes`, `at most ${Math.max(...pageRows)}`, Math.max(...pageRows) <= PAGE_SIZE + 2],
    [`orders query reads as many rows at ${size(large)} as at ${size(small)}`, sameRows ? 'equal on every page' : 'differs', sameRows],
    ['4 statements per create, with 1 item and with 100', creates.join(', '), creates.every((n) => n === 4)],
    [
      `a page through the app takes as long at ${size(large)} as at ${size(small)} (median ratio within 0.8–1.25)`,
      latencyRatios.map((r) => ratio(r)).join(', '),
      latencyRatios.every((r) => r >= 0.8 && r <= 1.25),
    ],
    [`growing to ${size(large)} takes under 4 minutes`, `${fmt(grow, 1)} s`, grow < 240],
  ];
  return ['### Goals', '', '| goal | measured | |', '| --- | --- | --- |', ...goals.map(([goal, measured, ok]) => row([goal, measured, check(ok)]))].join('\n');
}
