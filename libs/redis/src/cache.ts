import { randomBytes, randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import type { KeySpace } from './keys';
import { counter } from './metrics';
import { defineScripts, logThrottle } from './scripts';

/*
 * Cache-aside over Redis with three guarantees:
 * - read-your-writes: every write (set, delete) gives the key a new generation, and a loader's
 *   result is stored only if the generation is the one read before the loader ran;
 * - single flight: one load per key per instance (a shared promise) and across instances (a short
 *   `fill` lock; the others poll briefly for the value, then load themselves rather than hang);
 * - fail open: a Redis error sends the read to the loader, is logged and counted, and nothing is written.
 * A hit is one plain GET. The value, generation and fill keys share a hash tag (keys.ts) and all expire.
 *
 * A write is plain commands sent together, no script (`write` below): `SET generation <fresh> PX`
 * first, then `DEL` of the fill lock and the value (a set: `DEL` fill, `SET` value). The commands go
 * over one connection (one node: the keys share a hash tag), so Redis runs them in that order, but
 * other clients' commands may run between them. What a fill can do in that gap:
 * - a fill that read the generation before the write: its STORE compares that generation with the
 *   current one. Before the `SET` it may store, and the `DEL` then drops what it stored; after the
 *   `SET` it does not store. Either way nothing it read stays (cache.spec.ts holds a STORE in the gap).
 *   Hence the order: `DEL` first would leave a gap in which such a STORE lands after the drop.
 * - a fill that starts in the gap reads the new generation, so it began after the change the write
 *   reports was committed (callers write after their commit) and may store what it loads. Its fill
 *   lock may be dropped by the `DEL`, so a second instance may load the key too: single flight
 *   weakens for that moment, read-your-writes does not.
 * - a read in the gap may still get the old value: it is concurrent with the write, which has not
 *   answered yet.
 * If the write fails part way (Redis down), the caller is told (RedisUnavailableError) and tries again
 * (order-service: every second until the entry would have expired).
 * A generation is a random integer below 2^62, never '' (which reads as "never written"): a value
 * that repeats within its TTL is what would let an older fill's STORE match again, and one in 2^62 is
 * no chance worth counting. It is an integer so that an instance of a version that still bumps the
 * generation with INCR (a rolling deploy) can write the same key.
 */

/** On a miss: the value if it appeared meanwhile, else the generation, and whether we now fill it. */
const CLAIM_LUA = `
-- KEYS: value, generation, fill. ARGV: fill token, fill lock ms.
local value = redis.call('GET', KEYS[1])
if value then return {'hit', value} end
-- '' stands for "never written"; every write sets a fresh value.
local generation = redis.call('GET', KEYS[2]) or ''
-- Only one instance fills; the lock expires by itself if that instance dies.
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'fill', generation} end
return {'wait', generation}`;

/** Store a loaded value unless a write happened since its generation was read. */
const STORE_LUA = `
-- KEYS: value, generation, fill. ARGV: generation read before loading, JSON, ttl ms, fill token.
local stored = 0
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  stored = 1
end
-- Free the lock only if it is still ours: a write may have dropped it and another filler taken it.
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
return stored`;

/** A failed loader frees its fill lock so the waiters stop waiting. */
const RELEASE_LUA = `
-- KEYS: fill. ARGV: fill token.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const SCRIPTS = Object.freeze({
  cacheClaim: { numberOfKeys: 3, lua: CLAIM_LUA },
  cacheStore: { numberOfKeys: 3, lua: STORE_LUA },
  cacheRelease: { numberOfKeys: 1, lua: RELEASE_LUA },
});

interface CacheCommands {
  cacheClaim(value: string, gen: string, fill: string, token: string, fillMs: number): Promise<[string, string]>;
  cacheStore(value: string, gen: string, fill: string, readGen: string, json: string, ttlMs: number, token: string): Promise<number>;
  cacheRelease(fill: string, token: string): Promise<number>;
}


export const CACHE_DEFAULTS = Object.freeze({
  /** How long one instance may fill a key before others may try; a dead filler blocks no longer. */
  fillLockMs: 2_000,
  /** How long others wait for that filler before loading themselves. */
  waitMs: 1_000,
  /** Outlives any load that is allowed to store (see `load`), so an expired generation cannot match an old one. */
  generationTtlSeconds: 600,
  /** With Redis down every read fails; one log line per interval says so. */
  logIntervalMs: 10_000,
});

const FIRST_POLL_MS = 5;
const MAX_POLL_MS = 50;

export interface CacheLogger {
  warn(obj: object, msg: string): void;
}

export interface CacheOptions {
  client: RedisClient;
  keys: KeySpace;
  /** Namespaces the keys and labels the metrics, e.g. `orders`. */
  name?: string;
  defaultTtlSeconds: number;
  registry?: Registry;
  logger?: CacheLogger;
  fillLockMs?: number;
  waitMs?: number;
  generationTtlSeconds?: number;
}

export interface Cache<V = unknown> {
  /** The cached value, or undefined on a miss or when Redis fails. */
  get(key: string): Promise<V | undefined>;
  /** Writes through; loads that began earlier will not overwrite it. Rejects with RedisUnavailableError. */
  set(key: string, value: V, ttlSeconds?: number): Promise<void>;
  /** Invalidates after a change; the next read loads. Rejects with RedisUnavailableError. */
  delete(key: string): Promise<void>;
  /**
   * The cached value, or the loader's (stored unless a write intervened). `undefined` is never
   * stored. `prefetched` is the key's value as another command just read it (see `valueKey`).
   */
  getOrLoad(key: string, loader: () => Promise<V>, opts?: { ttlSeconds?: number; prefetched?: string | null }): Promise<V>;
  /**
   * The cached value, or on a miss the loader's, stored nowhere: for a read whose caller has no
   * use for a cached copy afterwards (HTTP's request `Cache-Control: no-store`). A miss costs no
   * command beyond the look itself (none when `prefetched` is given), and shares no flight.
   */
  getOrRead(key: string, loader: () => Promise<V>, opts?: { prefetched?: string | null }): Promise<V>;
  /** The Redis key that holds the key's value, for a caller that reads it in a command of its own. */
  valueKey(key: string): string;
}

type Result = 'hit' | 'miss' | 'error';
interface Outcome<V> {
  value: V;
  result: Result;
  /** A write landed while this value loaded, so it was not stored (and may be older than the write). */
  invalidated?: boolean;
}
type CacheKeys = ReturnType<KeySpace['cache']>;

/** A generation no write of the key's TTL will repeat (see the top of this file). */
const newGeneration = () => (randomBytes(8).readBigUInt64BE() >> 2n).toString();

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function toMs(seconds: number): number {
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw new RangeError(`cache TTL must be a positive number of seconds, got ${seconds}`);
  return Math.max(1, Math.round(seconds * 1000));
}

function throttledWarn(logger: CacheLogger | undefined, cache: string, intervalMs: number) {
  const throttle = logThrottle(intervalMs);
  return (err: unknown, operation: string) => {
    const { log, suppressed } = throttle();
    if (log) logger?.warn({ err, cache, operation, suppressed }, 'Redis cache failed; reading from the source');
  };
}

export function createCache<V = unknown>(options: CacheOptions): Cache<V> {
  const { client, keys, name = 'default', registry } = options;
  const { fillLockMs, waitMs, generationTtlSeconds, logIntervalMs } = { ...CACHE_DEFAULTS, ...definedOnly(options) };
  const generationTtlMs = toMs(generationTtlSeconds);
  const defaultTtlMs = toMs(options.defaultTtlSeconds);
  const commands = defineScripts<CacheCommands>(client, SCRIPTS);
  const warn = throttledWarn(options.logger, name, logIntervalMs);
  const requestsTotal = counter(registry, 'cache_requests_total', 'Cache reads by result', ['cache', 'result']);
  // Bound once: labelling on every inc() costs more than the rest of a hit.
  const requests = { hit: requestsTotal.labels(name, 'hit'), miss: requestsTotal.labels(name, 'miss'), error: requestsTotal.labels(name, 'error') };
  const loads = counter(registry, 'cache_loads_total', 'Loader calls by what became of the value', ['cache', 'outcome']);
  /** Reads in progress per key; a write removes its key, so later reads never join an older read. */
  const flights = new Map<string, Promise<Outcome<V>>>();
  const keysOf = (key: string): CacheKeys => keys.cache(`${name}:${key}`);

  function startFlight(key: string, run: () => Promise<Outcome<V>>): Promise<Outcome<V>> {
    const flight: Promise<Outcome<V>> = run().finally(() => {
      if (flights.get(key) === flight) flights.delete(key);
    });
    flights.set(key, flight);
    return flight;
  }

  async function failOpen(err: unknown, operation: string, loader: () => Promise<V>): Promise<Outcome<V>> {
    warn(err, operation);
    loads.inc({ cache: name, outcome: 'uncached' });
    return { value: await loader(), result: 'error' };
  }

  /** A miss: fill it ourselves, or wait a little for whoever holds the fill lock. */
  async function fill(k: CacheKeys, loader: () => Promise<V>, ttlMs: number): Promise<Outcome<V>> {
    const token = randomUUID();
    const deadline = Date.now() + waitMs;
    for (let delay = FIRST_POLL_MS; ; delay = Math.min(delay * 2, MAX_POLL_MS)) {
      let state: string, data: string;
      try {
        [state, data] = await commands.cacheClaim(k.value, k.generation, k.fill, token, fillLockMs);
      } catch (err) {
        return failOpen(err, 'claim', loader);
      }
      if (state === 'hit') return { value: JSON.parse(data) as V, result: 'miss' };
      if (state === 'fill') return load(k, loader, data, token, ttlMs);
      // The filler is slow or gone: load without the lock rather than keep the caller waiting.
      if (Date.now() + delay > deadline) return load(k, loader, data, '', ttlMs);
      await sleep(delay);
    }
  }

  async function load(k: CacheKeys, loader: () => Promise<V>, generation: string, token: string, ttlMs: number): Promise<Outcome<V>> {
    const started = Date.now();
    let value: V;
    try {
      value = await loader();
    } catch (err) {
      release(k, token);
      throw err;
    }
    // After generationTtl the generation read may have expired and been reissued; the value could be stale.
    if (value === undefined || Date.now() - started >= generationTtlMs) {
      release(k, token);
      loads.inc({ cache: name, outcome: 'uncached' });
      return { value, result: 'miss' };
    }
    return store(k, value, generation, token, ttlMs);
  }

  async function store(k: CacheKeys, value: V, generation: string, token: string, ttlMs: number): Promise<Outcome<V>> {
    try {
      const stored = await commands.cacheStore(k.value, k.generation, k.fill, generation, JSON.stringify(value), ttlMs, token);
      loads.inc({ cache: name, outcome: stored === 1 ? 'stored' : 'invalidated' });
      return { value, result: 'miss', invalidated: stored !== 1 };
    } catch (err) {
      warn(err, 'store');
      loads.inc({ cache: name, outcome: 'uncached' });
      return { value, result: 'error' };
    }
  }

  function hit(raw: string): V {
    requests.hit.inc();
    return JSON.parse(raw) as V;
  }

  function counted(outcome: Outcome<V>): V {
    requests[outcome.result].inc();
    return outcome.value;
  }

  /** Our own look: one GET; on a miss, join or start the flight (which began after this read did). */
  async function read(key: string, loader: () => Promise<V>, ttlMs: number): Promise<V> {
    const k = keysOf(key);
    let run = () => fill(k, loader, ttlMs);
    try {
      const raw = await client.get(k.value);
      if (raw !== null) return hit(raw);
    } catch (err) {
      run = () => failOpen(err, 'get', loader);
    }
    return counted(await (flights.get(key) ?? startFlight(key, run)));
  }

  function release(k: CacheKeys, token: string): void {
    if (token) commands.cacheRelease(k.fill, token).catch(() => undefined);
  }

  /**
   * A new generation first, so loads that began earlier cannot store what they read; then the fill
   * lock goes (new readers must not wait for a filler that will not store) with the value, or the
   * value is replaced. Sent together, in this order, on one connection (see the top of this file).
   */
  async function write(key: string, json: string | undefined, ttlMs: number, operation: string): Promise<void> {
    flights.delete(key);
    const k = keysOf(key);
    try {
      const generation = client.set(k.generation, newGeneration(), 'PX', generationTtlMs);
      const rest = json === undefined ? [client.del(k.fill, k.value)] : [client.del(k.fill), client.set(k.value, json, 'PX', ttlMs)];
      await Promise.all([generation, ...rest]);
    } catch (err) {
      warn(err, operation);
      throw new RedisUnavailableError(`cache.${operation}`, { cause: err });
    }
  }

  async function get(key: string): Promise<V | undefined> {
    try {
      const raw = await client.get(keysOf(key).value);
      if (raw !== null) return hit(raw);
      requests.miss.inc();
      return undefined;
    } catch (err) {
      warn(err, 'get');
      requests.error.inc();
      return undefined;
    }
  }

  return Object.freeze({
    get,

    async set(key: string, value: V, ttlSeconds?: number): Promise<void> {
      const json = JSON.stringify(value);
      if (json === undefined) throw new TypeError('cache values must be JSON; undefined cannot be stored');
      await write(key, json, toMs(ttlSeconds ?? options.defaultTtlSeconds), 'set');
    },

    async delete(key: string): Promise<void> {
      await write(key, undefined, defaultTtlMs, 'delete');
    },

    /** A hit is one GET and nothing else; misses (and fail-open loads) share one flight per key. */
    async getOrLoad(key: string, loader: () => Promise<V>, opts: { ttlSeconds?: number; prefetched?: string | null } = {}): Promise<V> {
      const ttlMs = opts.ttlSeconds === undefined ? defaultTtlMs : toMs(opts.ttlSeconds);
      // A value read just now by the caller's own command is as fresh as a GET would be; a miss reads again.
      if (opts.prefetched != null) return hit(opts.prefetched);
      const joined = flights.get(key);
      if (joined) {
        const outcome = await joined;
        // A write (on another instance, maybe answered before this read began) beat that load: read again.
        if (!outcome.invalidated) return counted(outcome);
        return read(key, loader, ttlMs);
      }
      return read(key, loader, ttlMs);
    },

    async getOrRead(key: string, loader: () => Promise<V>, opts: { prefetched?: string | null } = {}): Promise<V> {
      const { prefetched } = opts;
      if (prefetched === undefined) {
        const cached = await get(key);
        if (cached !== undefined) return cached;
      } else if (prefetched !== null) {
        return hit(prefetched);
      } else {
        requests.miss.inc();
      }
      loads.inc({ cache: name, outcome: 'uncached' });
      return loader();
    },

    valueKey: (key: string) => keysOf(key).value,
  });
}

/** Options left undefined fall back to the defaults instead of overriding them. */
function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}
