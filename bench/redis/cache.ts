import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createCache } from '../../libs/redis/src/cache';
import { keySpace } from '../../libs/redis/src/keys';
import { fmt, interleaved, median, microsPerOp } from './measure';
import { countPerOp, type PerOp } from './stats';

/**
 * The cache's hit path against a bare GET of the same bytes on the same connection: what
 * the cache adds on a hit (key building, JSON parsing, metrics) over the round trip.
 */

export interface CacheSettings {
  rounds: number;
  roundMs: number;
  sequentialChecks: number;
}

/** `GET + JSON.parse` is there for reference: the share of a hit's time that any JSON cache pays. */
const NAMES = ['bare GET', 'bare GET + JSON.parse', 'cache.get (hit)', 'cache.getOrLoad (hit)'] as const;
type Name = (typeof NAMES)[number];

/** A typical cached read model: an order with a few lines. */
const ORDER = {
  id: '0190a6a4-8f8e-7c1e-9d57-3b1b6f0c2a11',
  userId: '0190a6a4-1b2c-7d3e-8f40-5a6b7c8d9e0f',
  status: 'paid',
  currency: 'EUR',
  totalCents: 12_450,
  lines: Array.from({ length: 3 }, (_, i) => ({ sku: `SKU-${1000 + i}`, quantity: i + 1, unitPriceCents: 1_990 + i * 500 })),
  createdAt: '2025-01-01T12:00:00.000Z',
  updatedAt: '2025-01-01T12:05:00.000Z',
};

export interface CacheResults {
  micros: Record<Name, number>;
  /** This ÷ bare GET, median of the per-round ratios. */
  ratio: Record<Name, number>;
  counts: Record<Name, PerOp>;
}

export async function benchCache(client: Redis, probe: Redis, prefix: string, s: CacheSettings): Promise<CacheResults> {
  const cache = createCache<typeof ORDER>({ client, keys: keySpace(`${prefix}ours:`), name: 'orders', defaultTtlSeconds: 600, registry: new Registry() });
  const rawKey = `${prefix}raw:order`;
  await cache.set('order', ORDER);
  await client.set(rawKey, JSON.stringify(ORDER), 'PX', 600_000);
  const unexpectedLoad = () => Promise.reject(new Error('the cache missed a key it holds: the bench measures hits only'));
  const ops: Record<Name, () => Promise<unknown>> = {
    'bare GET': () => client.get(rawKey),
    'bare GET + JSON.parse': async () => JSON.parse((await client.get(rawKey)) as string) as unknown,
    'cache.get (hit)': async () => {
      if ((await cache.get('order')) === undefined) throw new Error('cache.get missed a key it holds');
    },
    'cache.getOrLoad (hit)': () => cache.getOrLoad('order', unexpectedLoad),
  };

  for (const name of NAMES) await microsPerOp(ops[name], 200);
  const rounds = await interleaved(NAMES, s.rounds, (name) => microsPerOp(ops[name], s.roundMs));
  const counts = {} as Record<Name, PerOp>;
  for (const name of NAMES) {
    counts[name] = await countPerOp(probe, s.sequentialChecks, async () => {
      for (let i = 0; i < s.sequentialChecks; i++) await ops[name]();
    });
  }
  const micros = {} as Record<Name, number>;
  const ratio = {} as Record<Name, number>;
  for (const name of NAMES) {
    micros[name] = median(rounds.map((r) => r[name]));
    ratio[name] = median(rounds.map((r) => r[name] / r['bare GET']));
  }
  return { micros, ratio, counts };
}

export function cacheMarkdown(r: CacheResults, s: CacheSettings): string {
  return [
    '### Cache hit against a bare GET',
    '',
    `${s.rounds} interleaved rounds of ${s.roundMs} ms each, one caller awaiting each read; the value is a ${JSON.stringify(ORDER).length}-byte JSON order. ` +
      `Round trips and commands: exact, over ${fmt(s.sequentialChecks)} sequential reads.`,
    '',
    '| read | µs per read (median) | ÷ bare GET (median of rounds) | round trips | commands | by command |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    ...NAMES.map((n) => {
      const c = r.counts[n];
      return `| ${n} | ${fmt(r.micros[n], 1)} | ${n === 'bare GET' ? '—' : `${fmt(r.ratio[n], 2)}×`} | ${c.roundTrips} | ${c.commands} | ${c.breakdown} |`;
    }),
  ].join('\n');
}
