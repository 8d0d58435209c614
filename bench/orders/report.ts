import { cpus } from 'node:os';
import { fmt } from '../redis/measure';
import type { AppFigures } from './http';
import { MEASURED_ORDERS } from './rows';
import type { SeedResult } from './seed';
import { PAGE_SIZE, PAGES, type Measured, type SqlFigures } from './sql';

/** One size of the table, measured. */
export interface Phase {
  seed: SeedResult;
  badIds: number;
  sql: SqlFigures;
  app: AppFigures;
}

export const sizeLabel = (orders: number): string => (orders >= 1_000_000 ? `${fmt(orders / 1_000_000)}M` : `${fmt(orders / 1_000)}k`);
export const size = (p: Phase): string => sizeLabel(p.seed.total);
export const ratio = (x: number): string => `${fmt(x, x < 10 ? 2 : 0)}×`;
export const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
const rows = (m: Measured) => fmt(m.cost.rowsRead);

export function header(mariadb: string, schema: string, [small, large]: [Phase, Phase], runMs: number): string {
  const cpu = cpus();
  return [
    '## Order list benchmark (`npm run bench:orders`)',
    '',
    `${new Date().toISOString().slice(0, 10)} · Node ${process.version} · MariaDB ${mariadb} on 127.0.0.1 · ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}.`,
    `One run of ${fmt(runMs / 1000)} s: schema \`${schema}\` seeded to ${size(small)} orders and measured, grown to ${size(large)} and measured again. ` +
      `The measured user has ${fmt(MEASURED_ORDERS)} orders from the start; everyone else's orders grow around theirs. Rows read and statements ` +
      "are exact: the `Handler_read_*` and `Questions` deltas of the one session that ran the statement.",
    `Milliseconds depend on the machine and its load, and other work shares this one. So they are taken at the end with both sizes live: ` +
      `the ${size(large)} schema, and a copy of the schema as it was at ${size(small)} (\`${schema}_${size(small)}\`), each behind its own app, ` +
      'all contenders taking turns in the same rounds, so that a busy moment meets both sizes alike.',
  ].join('\n');
}

export function seedMarkdown(phases: Phase[]): string {
  return [
    '### Seeding',
    '',
    `Multi-row INSERTs of 4,000 orders, and of their 1–3 items each, on two connections (items one statement behind). ` +
      'Ids are UUIDv7 made for timestamps spread over the past year; created_at is the id\'s own time, checked over every row afterwards.',
    '',
    '| to | orders added | items added | insert time | orders/s | ANALYZE TABLE | ids that are not a UUIDv7 of their created_at |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...phases.map((p) =>
      row([size(p), fmt(p.seed.added), fmt(p.seed.itemsAdded), `${fmt(p.seed.insertMs / 1000, 1)} s`, fmt(p.seed.added / (p.seed.insertMs / 1000)), `${fmt(p.seed.analyzeMs / 1000, 1)} s`, p.badIds]),
    ),
  ].join('\n');
}

export function rowsMarkdown([small, large]: [Phase, Phase]): string {
  const [a, b] = [size(small), size(large)];
  const pages = PAGES.map((p) => ({ name: p.name, small: small.sql.pages[p.name], large: large.sql.pages[p.name] }));
  return [
    `### Rows read per page (exact; limit ${PAGE_SIZE}, so the service reads ${PAGE_SIZE + 1})`,
    '',
    `The repository's own statements, each measured alone. Plans are EXPLAIN's at ${b}.`,
    '',
    `| page | orders query, ${a} | orders query, ${b} | plan | items query, ${a} | items query, ${b} |`,
    '| --- | ---: | ---: | --- | ---: | ---: |',
    ...pages.map((p) => row([p.name, rows(p.small.keyset), rows(p.large.keyset), p.large.keyset.plan, rows(p.small.items), rows(p.large.items)])),
    '',
    `### The same pages by OFFSET (baseline, same run, same columns, LIMIT ${PAGE_SIZE + 1}, the optimizer's own plan)`,
    '',
    `| page | rows read, ${a} | rows read, ${b} | plan at ${b} | OFFSET ÷ keyset rows at ${b} |`,
    '| --- | ---: | ---: | --- | ---: |',
    ...pages.map((p) =>
      row([`${p.name} (OFFSET ${fmt(PAGES.find((x) => x.name === p.name)?.after ?? 0)})`, rows(p.small.offset), rows(p.large.offset), p.large.offset.plan, ratio(p.large.offset.cost.rowsRead / p.large.keyset.cost.rowsRead)]),
    ),
    row([
      `whole table, half way (OFFSET ${fmt(small.sql.global.offsetAt)} / ${fmt(large.sql.global.offsetAt)})`,
      rows(small.sql.global.offset),
      rows(large.sql.global.offset),
      large.sql.global.offset.plan,
      ratio(large.sql.global.offset.cost.rowsRead / large.sql.global.keyset.cost.rowsRead),
    ]),
    row([`… by keyset (\`id < ?\`, the same position)`, rows(small.sql.global.keyset), rows(large.sql.global.keyset), large.sql.global.keyset.plan, '—']),
  ].join('\n');
}

export function createsMarkdown([small, large]: [Phase, Phase], runs: number): string {
  return [
    `### SQL statements per create (exact; POST /v1/orders through the app, DB_POOL_SIZE=1, ${runs} creates each)`,
    '',
    `| order | statements, ${size(small)} | statements, ${size(large)} | every run, ${size(small)} / ${size(large)} |`,
    '| --- | ---: | ---: | --- |',
    ...(['1 item', '100 items'] as const).map((k) => {
      const [x, y] = [small.app.statementsPerCreate[k], large.app.statementsPerCreate[k]];
      return row([k, x.mode, y.mode, `${x.seen} / ${y.seen}`]);
    }),
    '',
    "Each figure is the count most runs gave. Any other is the outbox relay's poll (one SELECT every 200 ms) on the app's one connection: " +
      "inside the create it adds one, inside the probe's own bracket (which is subtracted) it takes one off. The creates are another user's; " +
      'their orders stay in the table.',
  ].join('\n');
}

