import RedisStore from '@fastify/rate-limit/store/RedisStore';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { keySpace } from '../../libs/redis/src/keys';
import { createRateLimiter } from '../../libs/redis/src/rate-limiter';
import { fmt, interleaved, median, opsPerSecond } from './measure';
import { countPerOp, type PerOp } from './stats';

/**
 * Our limiter against the two libraries people use today, at the store level (no HTTP):
 * @fastify/rate-limit's RedisStore and rate-limiter-flexible's RateLimiterRedis. Each
 * gets its own connection made with the same ioredis options (libs/redis's request-path
 * client), all on the same Redis.
 */

export interface LimiterSettings {
  rounds: number;
  roundMs: number;
  concurrency: number;
  sequentialChecks: number;
}

/** Never reached during the bench, so every check is an allowed one that goes to Redis. */
const ROOMY = { limit: 1_000_000, windowSeconds: 3_600 };
/** Reached at once, for the repeated-denial figures. */
const TIGHT = { limit: 5, windowSeconds: 60 };
const SUBJECTS = Array.from({ length: 1_000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);

const NAMES = ['ours', '@fastify/rate-limit', 'rate-limiter-flexible'] as const;
type Name = (typeof NAMES)[number];
/** Answers whether the check allowed the request. */
type Check = (subject: string) => Promise<boolean>;
interface Contender {
  roomy: Check;
  tight: Check;
}

function ours(client: Redis, prefix: string): Contender {
  const limiter = createRateLimiter({
    client,
    keys: keySpace(`${prefix}ours:`),
    policies: { roomy: { ...ROOMY, failMode: 'closed' }, tight: { ...TIGHT, failMode: 'closed' } },
    // As a service runs it: with its metrics.
    registry: new Registry(),
  });
  return {
    roomy: async (s) => (await limiter.check('roomy', s)).allowed,
    tight: async (s) => (await limiter.check('tight', s)).allowed,
  };
}

function fastifyStore(client: Redis, prefix: string): Contender {
  const store = new RedisStore(false, false, client, `${prefix}frl:`);
  const check = (max: number, windowSeconds: number) => (subject: string) =>
    new Promise<boolean>((resolve, reject) =>
      store.incr(subject, (err, res) => (err || !res ? reject(err) : resolve(res.current <= max)), windowSeconds * 1_000, max),
    );
  return { roomy: check(ROOMY.limit, ROOMY.windowSeconds), tight: check(TIGHT.limit, TIGHT.windowSeconds) };
}

function flexible(client: Redis, prefix: string): Contender {
  const make = ({ limit, windowSeconds }: typeof ROOMY, name: string): Check => {
    const limiter = new RateLimiterRedis({ storeClient: client, keyPrefix: `${prefix}rlf:${name}`, points: limit, duration: windowSeconds });
    // It rejects with a RateLimiterRes when the limit is reached, and with an Error when Redis fails.
    return (subject) => limiter.consume(subject).then(
      () => true,
      (res: unknown) => {
        if (res instanceof RateLimiterRes) return false;
        throw res;
      },
    );
  };
  return { roomy: make(ROOMY, 'roomy'), tight: make(TIGHT, 'tight') };
}

export interface LimiterResults {
  perSecond: Record<Name, number>;
  /** Ours ÷ the peer, median of the per-round ratios. */
  ratio: Record<Name, number>;
  range: Record<Name, [number, number]>;
  allowedCounts: Record<Name, PerOp>;
  deniedCounts: Record<Name, PerOp>;
}

export async function benchLimiter(clients: Record<Name, Redis>, probe: Redis, prefix: string, s: LimiterSettings): Promise<LimiterResults> {
  const contenders: Record<Name, Contender> = {
    ours: ours(clients.ours, prefix),
    '@fastify/rate-limit': fastifyStore(clients['@fastify/rate-limit'], prefix),
    'rate-limiter-flexible': flexible(clients['rate-limiter-flexible'], prefix),
  };
  const allowedOnly = (name: Name) => async (i: number) => {
    if (!(await contenders[name].roomy(SUBJECTS[i % SUBJECTS.length] as string))) {
      throw new Error(`${name} denied a check of the roomy policy: the throughput comparison would not compare like with like`);
    }
  };

  // Warm-up: connections, script loading (the first EVALSHA of each may answer NOSCRIPT), JIT.
  for (const name of NAMES) await opsPerSecond(allowedOnly(name), 300, s.concurrency);
  const rounds = await interleaved(NAMES, s.rounds, (name) => opsPerSecond(allowedOnly(name), s.roundMs, s.concurrency));

  const allowedCounts = {} as Record<Name, PerOp>;
  const deniedCounts = {} as Record<Name, PerOp>;
  for (const name of NAMES) {
    allowedCounts[name] = await countPerOp(probe, s.sequentialChecks, async () => {
      for (let i = 0; i < s.sequentialChecks; i++) await allowedOnly(name)(i);
    });
    deniedCounts[name] = await countDenied(probe, contenders[name].tight, name, s.sequentialChecks);
  }
  return summarise(rounds, allowedCounts, deniedCounts);
}

/** A subject already over its limit, checked again and again before its retry time. */
async function countDenied(probe: Redis, check: Check, name: string, n: number): Promise<PerOp> {
  const subject = 'over-the-limit';
  for (let i = 0; i < TIGHT.limit; i++) await check(subject);
  if (await check(subject)) throw new Error(`${name} allowed check ${TIGHT.limit + 1} on a limit of ${TIGHT.limit}`);
  return countPerOp(probe, n, async () => {
    for (let i = 0; i < n; i++) if (await check(subject)) throw new Error(`${name} allowed a subject over its limit`);
  });
}

function summarise(rounds: Record<Name, number>[], allowedCounts: Record<Name, PerOp>, deniedCounts: Record<Name, PerOp>): LimiterResults {
  const perSecond = {} as Record<Name, number>;
  const ratio = {} as Record<Name, number>;
  const range = {} as Record<Name, [number, number]>;
  for (const name of NAMES) {
    const xs = rounds.map((r) => r[name]);
    perSecond[name] = median(xs);
    ratio[name] = median(rounds.map((r) => r.ours / r[name]));
    range[name] = [Math.min(...xs), Math.max(...xs)];
  }
  return { perSecond, ratio, range, allowedCounts, deniedCounts };
}

export function limiterMarkdown(r: LimiterResults, s: LimiterSettings): string {
  const lines = [
    `### Rate limiter: checks per second`,
    '',
    `${s.rounds} interleaved rounds of ${s.roundMs} ms per contender, ${s.concurrency} checks in flight on one connection each, ` +
      `${SUBJECTS.length} subjects, every check allowed (limit ${fmt(ROOMY.limit)} per ${ROOMY.windowSeconds} s).`,
    '',
    '| limiter | checks/s (median) | min – max | ours ÷ this (median of rounds) |',
    '| --- | ---: | ---: | ---: |',
    ...NAMES.map((n) => `| ${n} | ${fmt(r.perSecond[n])} | ${fmt(r.range[n][0])} – ${fmt(r.range[n][1])} | ${n === 'ours' ? '—' : `${fmt(r.ratio[n], 2)}×`} |`),
    '',
    `### Rate limiter: Redis work per check (exact, ${fmt(s.sequentialChecks)} sequential checks)`,
    '',
    '| limiter | case | round trips | script calls | commands (script-run included) | by command |',
    '| --- | --- | ---: | ---: | ---: | --- |',
  ];
  for (const n of NAMES) {
    for (const [label, c] of [
      ['allowed', r.allowedCounts[n]],
      ['denied, already over the limit', r.deniedCounts[n]],
    ] as const) {
      lines.push(`| ${n} | ${label} | ${c.roundTrips} | ${c.scriptCalls} | ${c.commands} | ${c.breakdown} |`);
    }
  }
  return lines.join('\n');
}
