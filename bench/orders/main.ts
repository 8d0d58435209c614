/**
 * `npm run bench:orders`: what a page of a user's orders costs at 10k orders and at 1M,
 * in one run. It seeds a schema of its own to 10k orders, measures, grows it to 1M and
 * measures again: rows read per page and statements per create, exact, from the MySQL
 * session's own counters. Then page latency through the real app, against the same pages
 * by OFFSET as the baseline, with both sizes live (a copy of the schema as it was at 10k
 * beside the grown one) and timed in the same rounds, so load on the machine meets both
 * alike. Writes bench/results/orders.md. Local only (127.0.0.1), bounded to well under
 * eight minutes, and not part of `npm test`.
 *
 * Tuning: BENCH_ORDERS (1000000: the large size), BENCH_KEEP=1 (keep the schemas),
 * MYSQL_ADMIN_URL (mysql://root@127.0.0.1:3306), BENCH_REDIS_URL (default: a private
 * redis-server on a free loopback port, for the app's rate limits and streams).
 */
import { createDataSource, initializeDataSource } from '@platform/db';
import type { DataSource } from 'typeorm';
import { benchRedis, type BenchRedis } from '../redis/server';
import { appFigures, pageOps, startBenchApp, type BenchApp } from './http';
import { latencies } from './measure';
import { createsMarkdown, header, rowsMarkdown, seedMarkdown, sizeLabel, type Phase } from './report';
import { goalsMarkdown, latencyMarkdown, timingKey, type Timings } from './report-timing';
import { MEASURED_USER } from './rows';
import { benchSchemaName, openSchema, snapshot, type BenchSchema } from './schema';
import { badIds, growTo } from './seed';
import { sqlFigures, sqlOps } from './sql';
import { runBench, writeResults } from '../run';

const DEADLINE_MS = 8 * 60_000;
const SMALL = 10_000;
/** Creates and page requests counted per figure; the most common count is the figure. */
const COUNT_RUNS = 20;
const TIMING = { samples: 400, rounds: 5, budgetMs: 4_000 };

function large(): number {
  const v = Number(process.env['BENCH_ORDERS'] ?? 1_000_000);
  if (!Number.isInteger(v) || v <= SMALL) throw new Error(`BENCH_ORDERS must be an integer above ${SMALL}`);
  return v;
}

/** What the run opened, closed in reverse whatever happens; schemas dropped unless BENCH_KEEP=1. */
const opened: { schemas: BenchSchema[]; close: (() => Promise<unknown>)[] } = { schemas: [], close: [] };

async function release(): Promise<void> {
  for (const close of opened.close.splice(0).reverse()) {
    await close().catch((err: unknown) => console.error(`cleanup: ${err instanceof Error ? err.message : String(err)}`));
  }
  for (const schema of opened.schemas.splice(0)) {
    if (process.env['BENCH_KEEP'] === '1') console.log(`Kept schema ${schema.name} (BENCH_KEEP=1)`);
    else await schema.drop();
  }
}

/** One connection: each statement measured runs on the session whose counters are read. */
async function connection(url: string): Promise<DataSource> {
  const ds = await initializeDataSource(createDataSource({ url, poolSize: 1, connectTimeoutMs: 5_000 }), {});
  opened.close.push(() => ds.destroy());
  return ds;
}

async function app(url: string, redis: BenchRedis, label: string): Promise<BenchApp> {
  const bench = await startBenchApp(url, redis.url, `bench:${Date.now().toString(36)}:${label}:`);
  opened.close.push(() => bench.close());
  return bench;
}

async function measure(schema: BenchSchema, ds: DataSource, bench: BenchApp, target: number): Promise<Phase> {
  const seed = await growTo(schema.url, target);
  const bad = await badIds(schema.url);
  console.log(`${sizeLabel(target)}: ${seed.added.toLocaleString('en-US')} orders added in ${(seed.insertMs / 1000).toFixed(1)} s; counting`);
  return { seed, badIds: bad, sql: await sqlFigures(ds, seed.total), app: await appFigures(bench, COUNT_RUNS) };
}

/** Both sizes live, every contender taking turns in the same rounds. */
async function timings(sides: { label: string; ds: DataSource; bench: BenchApp; phase: Phase }[]): Promise<Timings> {
  const ops: Record<string, () => Promise<unknown>> = {};
  for (const { label, ds, bench, phase } of sides) {
    for (const [name, op] of Object.entries(await pageOps(bench))) ops[timingKey(label, 'app', name)] = op;
    for (const [key, op] of Object.entries(sqlOps(ds, phase.sql))) {
      const [kind, name] = key.split(': ') as ['keyset' | 'OFFSET', string];
      ops[timingKey(label, kind, name)] = op;
    }
  }
  return latencies(ops, TIMING);
}

async function main(): Promise<void> {
  const started = performance.now();
  const target = large();
  const [small, big] = [sizeLabel(SMALL), sizeLabel(target)];
  try {
    const schema = await openSchema(benchSchemaName());
    opened.schemas.push(schema);
    const redis = await benchRedis();
    opened.close.push(() => redis.stop());
    const ds = await connection(schema.url);
    const [{ version }] = (await ds.query('SELECT VERSION() AS version')) as [{ version: string }];
    console.log(`MariaDB ${version} at 127.0.0.1, schema ${schema.name}; measured user ${MEASURED_USER}`);
    const bench = await app(schema.url, redis, big);

    const first = await measure(schema, ds, bench, SMALL);
    const frozen = await snapshot(schema, `${schema.name}_${small}`);
    opened.schemas.push(frozen);
    const second = await measure(schema, ds, bench, target);
    console.log('timing both sizes side by side');
    const t = await timings([
      { label: small, ds: await connection(frozen.url), bench: await app(frozen.url, redis, small), phase: first },
      { label: big, ds, bench, phase: second },
    ]);

    const phases: [Phase, Phase] = [first, second];
    const report = [
      header(version.replace(/-MariaDB.*$/, ''), schema.name, phases, performance.now() - started),
      seedMarkdown(phases),
      rowsMarkdown(phases),
      createsMarkdown(phases, COUNT_RUNS),
      latencyMarkdown(phases, t, TIMING.samples),
      goalsMarkdown(phases, t),
    ].join('\n\n');
    writeResults('orders.md', report);
  } finally {
    await release();
  }
}

runBench('bench:orders', DEADLINE_MS, main, release);
