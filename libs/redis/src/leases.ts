import type { RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import type { KeySpace } from './keys';
import { defineScripts } from './scripts';

/**
 * At most `limit` holders of one resource per subject, counted across every instance: e.g. a
 * user's open streams. A holder is a lease in a sorted set scored by its expiry (Redis's clock),
 * renewed while the holder lives and removed when it ends; a holder whose instance died without
 * removing it stops counting once its lease runs out. Redis losing the set (FLUSHALL, a restart)
 * forgets the count until the holders' next renewal writes them back.
 */
export interface Leases {
  /** Takes a lease for `holder` unless the subject already holds `limit` others. False when it does. */
  acquire(subject: string, holder: string): Promise<boolean>;
  /** Extends the leases of these holders, whatever the count: they are already open. */
  renew(subject: string, holders: readonly string[]): Promise<void>;
  release(subject: string, holder: string): Promise<void>;
}

export interface LeasesOptions {
  client: RedisClient;
  keys: KeySpace;
  /** The resource's name in the key (`streams`). */
  name: string;
  limit: number;
  /** How long a lease lasts unrenewed; renew well within it. */
  leaseMs: number;
}

/** Takes or renews leases on Redis's clock, so instances with drifting clocks agree on expiry. */
const LEASE_LUA = `
-- KEYS[1]: the subject's leases (holder -> expiry in ms)
-- ARGV[1]: limit ('0': renew whatever the count), ARGV[2]: lease in ms, ARGV[3...]: holders
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[1])
if limit > 0 and redis.call('ZSCORE', KEYS[1], ARGV[3]) == false and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
local lease = tonumber(ARGV[2])
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], now + lease, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], lease)
return 1
`;

const LEASE = 'platformLease';

type WithLease = { [LEASE](key: string, limit: number, leaseMs: number, ...holders: string[]): Promise<number> };

export function createLeases(opts: LeasesOptions): Leases {
  const { client, keys, name, limit, leaseMs } = opts;
  const scripts = defineScripts<WithLease>(client, { [LEASE]: { numberOfKeys: 1, lua: LEASE_LUA } });
  const key = (subject: string) => keys.leases(name, subject);

  async function run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw new RedisUnavailableError(operation, { cause: err });
    }
  }

  return Object.freeze({
    acquire: async (subject: string, holder: string) => (await run(`take a ${name} lease`, () => scripts[LEASE](key(subject), limit, leaseMs, holder))) === 1,
    async renew(subject: string, holders: readonly string[]): Promise<void> {
      if (holders.length > 0) await run(`renew ${name} leases`, () => scripts[LEASE](key(subject), 0, leaseMs, ...holders));
    },
    async release(subject: string, holder: string): Promise<void> {
      await run(`release a ${name} lease`, () => client.zrem(key(subject), holder));
    },
  });
}
