import { Cluster } from 'ioredis';
import { Registry } from 'prom-client';
import { closeAll, deadRedis, testKeys, testRedis } from '../test/redis';
import { createCache, type CacheOptions } from './cache';
import type { RedisClient } from './client';
import { RedisUnavailableError } from './errors';

let a: RedisClient;
let b: RedisClient;
let c: RedisClient;

beforeAll(async () => {
  [a, b, c] = await Promise.all([testRedis(), testRedis(), testRedis()]);
});
afterAll(() => closeAll(a, b, c));

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** A loader that counts its calls and answers when told (or at once with `value`). */
function loaderOf<T>(value?: T, delayMs = 0) {
  const started = deferred<void>();
  const gate = deferred<T>();
  if (value !== undefined) setTimeout(() => gate.resolve(value), delayMs);
  const loader = jest.fn(async () => {
    started.resolve();
    return gate.promise;
  });
  return { loader, started: started.promise, finish: gate.resolve, fail: gate.reject };
}

/**
 * From now on, the client's plain SET and DEL after the first wait for `gate`: what other clients do
 * meanwhile runs between a write's commands. Resolves once the first one has been answered.
 */
function holdAfterFirst(client: RedisClient, gate: Promise<void>): Promise<unknown> {
  const answered = deferred<unknown>();
  let calls = 0;
  for (const name of ['set', 'del'] as const) {
    const command = (client[name] as (...args: unknown[]) => Promise<unknown>).bind(client);
    (client as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      if (calls++ > 0) return gate.then(() => command(...args));
      const reply = command(...args);
      reply.then(answered.resolve, answered.reject);
      return reply;
    };
  }
  return answered.promise;
}

function cacheOn(client: RedisClient, keys: CacheOptions['keys'], extra: Partial<CacheOptions> = {}) {
  return createCache<string>({ client, keys, name: 'orders', defaultTtlSeconds: 60, ...extra });
}

/** Every key under the prefix, on every master when the suite runs on a cluster. */
async function keysUnder(client: RedisClient, prefix: string): Promise<string[]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const found = await Promise.all(nodes.map((node) => node.keys(`${prefix}*`)));
  return found.flat();
}

describe('cache get / set / delete', () => {
  it('when a value is set, then get returns it with the TTL given, and after delete get misses', async () => {
    const keys = testKeys('cache');
    const cache = cacheOn(a, keys);
    await cache.set('o1', 'shipped', 30);
    expect(await cache.get('o1')).toBe('shipped');
    const ttl = await a.pttl(keys.cache('orders:o1').value);
    expect(ttl).toBeGreaterThan(29_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
    await cache.delete('o1');
    expect(await cache.get('o1')).toBeUndefined();
  });

  it('when values are JSON objects or null, then they read back as written', async () => {
    const cache = createCache<{ id: string; total: number } | null>({ client: a, keys: testKeys('cache'), defaultTtlSeconds: 60 });
    await cache.set('o1', { id: 'o1', total: 1250 });
    await cache.set('none', null);
    expect(await cache.get('o1')).toEqual({ id: 'o1', total: 1250 });
    expect(await cache.get('none')).toBeNull();
  });

  it('when a TTL is not positive, then the call is refused', async () => {
    const cache = cacheOn(a, testKeys('cache'));
    await expect(cache.set('o1', 'x', 0)).rejects.toThrow(RangeError);
    expect(() => cacheOn(a, testKeys('cache'), { defaultTtlSeconds: -1 })).toThrow(RangeError);
  });
});

describe('cache getOrLoad', () => {
  it('when the value was read by another command, then a hit sends no command of its own, and a miss loads and stores once', async () => {
    const keys = testKeys('cache');
    const cache = cacheOn(a, keys);
    const missed = await a.get(cache.valueKey('k1'));
    expect(missed).toBeNull();
    const first = loaderOf('v1');
    expect(await cache.getOrLoad('k1', first.loader, { prefetched: missed })).toBe('v1');
    expect(first.loader).toHaveBeenCalledTimes(1);
    const found = await a.get(cache.valueKey('k1'));
    const sent = jest.spyOn(a, 'sendCommand');
    try {
      expect(await cache.getOrLoad('k1', loaderOf('never').loader, { prefetched: found })).toBe('v1');
      expect(sent).not.toHaveBeenCalled();
    } finally {
      sent.mockRestore();
    }
  });

  it('when 50 concurrent misses arrive over 3 instances, then the loader runs once and all get the value', async () => {
    const keys = testKeys('cache');
    const instances = [a, b, c].map((client) => cacheOn(client, keys));
    const { loader } = loaderOf('loaded', 50);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => instances.at(i % 3)?.getOrLoad('o1', loader)));
    expect(loader).toHaveBeenCalledTimes(1);
    expect(results).toEqual(Array(50).fill('loaded'));
    expect(await cacheOn(b, keys).get('o1')).toBe('loaded');
  });

  it('when a key is cached, then getOrLoad answers from Redis without loading', async () => {
    const cache = cacheOn(a, testKeys('cache'));
    await cache.set('o1', 'cached');
    const { loader } = loaderOf('loaded');
    expect(await cache.getOrLoad('o1', loader)).toBe('cached');
    expect(loader).not.toHaveBeenCalled();
  });

  it('when a cached key is deleted, then the next getOrLoad loads the new value', async () => {
    const keys = testKeys('cache');
    const [one, two] = [cacheOn(a, keys), cacheOn(b, keys)];
    expect(await one.getOrLoad('o1', async () => 'v1')).toBe('v1');
    await two.delete('o1');
    expect(await one.getOrLoad('o1', async () => 'v2')).toBe('v2');
    expect(await two.get('o1')).toBe('v2');
  });

  it('when a delete lands while a loader runs, then its old result is not stored and the next read loads fresh', async () => {
    const keys = testKeys('cache');
    const [reader, writer] = [cacheOn(a, keys), cacheOn(b, keys)];
    const old = loaderOf<string>();
    const loading = reader.getOrLoad('o1', old.loader);
    await old.started;
    await writer.delete('o1');
    old.finish('old');
    await expect(loading).resolves.toBe('old');
    expect(await writer.get('o1')).toBeUndefined();
    expect(await reader.getOrLoad('o1', async () => 'fresh')).toBe('fresh');
  });

  it('when a fill that began before a delete stores between the delete’s commands, then nothing it read stays', async () => {
    const keys = testKeys('cache');
    const writerClient = await testRedis();
    try {
      const [reader, writer] = [cacheOn(a, keys), cacheOn(writerClient, keys)];
      const old = loaderOf<string>();
      const loading = reader.getOrLoad('o1', old.loader);
      await old.started;
      const gate = deferred<void>();
      const first = holdAfterFirst(writerClient, gate.promise);
      const deleting = writer.delete('o1');
      // The delete's first command has landed, its others wait: the fill's STORE runs in between.
      await Promise.race([first, deleting]);
      old.finish('old');
      await expect(loading).resolves.toBe('old');
      gate.resolve();
      await deleting;
      expect(await writer.get('o1')).toBeUndefined();
      expect(await reader.getOrLoad('o1', async () => 'fresh')).toBe('fresh');
    } finally {
      await closeAll(writerClient);
    }
  });

  it('when a read starts after a delete on the same instance, then it does not join the older load', async () => {
    const cache = cacheOn(a, testKeys('cache'));
    const old = loaderOf<string>();
    const loading = cache.getOrLoad('o1', old.loader);
    await old.started;
    await cache.delete('o1');
    expect(await cache.getOrLoad('o1', async () => 'fresh')).toBe('fresh');
    old.finish('old');
    await loading;
    expect(await cache.get('o1')).toBe('fresh');
  });

  it('when another instance deletes while a load runs here, then a read starting after the delete does not get the old value', async () => {
    const keys = testKeys('cache');
    const [reader, writer] = [cacheOn(a, keys), cacheOn(b, keys)];
    const old = loaderOf<string>();
    const loading = reader.getOrLoad('o1', old.loader);
    await old.started;
    await writer.delete('o1');
    const after = reader.getOrLoad('o1', async () => 'fresh');
    old.finish('old');
    await expect(loading).resolves.toBe('old');
    await expect(after).resolves.toBe('fresh');
    expect(await writer.get('o1')).toBe('fresh');
  });

  it('when a set lands while a loader runs, then the loader does not overwrite it', async () => {
    const keys = testKeys('cache');
    const [reader, writer] = [cacheOn(a, keys), cacheOn(b, keys)];
    const old = loaderOf<string>();
    const loading = reader.getOrLoad('o1', old.loader);
    await old.started;
    await writer.set('o1', 'written');
    old.finish('old');
    await loading;
    expect(await reader.get('o1')).toBe('written');
  });

  it('when the instance filling a key never finishes, then others load themselves after the wait', async () => {
    const keys = testKeys('cache');
    await a.set(keys.cache('orders:o1').fill, 'a-stuck-instance', 'PX', 5_000);
    const cache = cacheOn(b, keys, { waitMs: 100 });
    const started = Date.now();
    expect(await cache.getOrLoad('o1', async () => 'loaded')).toBe('loaded');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await cache.get('o1')).toBe('loaded');
  });

  it('when the loader fails, then every joined caller gets its error, the fill lock is freed and the next read loads', async () => {
    const keys = testKeys('cache');
    const cache = cacheOn(a, keys);
    const failing = loaderOf<string>();
    const calls = [cache.getOrLoad('o1', failing.loader), cache.getOrLoad('o1', failing.loader)];
    await failing.started;
    failing.fail(new Error('database down'));
    for (const call of calls) await expect(call).rejects.toThrow('database down');
    expect(failing.loader).toHaveBeenCalledTimes(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await a.exists(keys.cache('orders:o1').fill)).toBe(0);
    expect(await cache.getOrLoad('o1', async () => 'loaded')).toBe('loaded');
  });

  it('when the loader returns undefined, then nothing is stored', async () => {
    const cache = createCache<string | undefined>({ client: a, keys: testKeys('cache'), defaultTtlSeconds: 60 });
    expect(await cache.getOrLoad('o1', async () => undefined)).toBeUndefined();
    expect(await cache.get('o1')).toBeUndefined();
  });
});

describe('cache metrics and keys', () => {
  it('when reads hit and miss, then cache_requests_total and cache_loads_total count them by cache', async () => {
    const registry = new Registry();
    const cache = cacheOn(a, testKeys('cache'), { registry });
    await cache.getOrLoad('o1', async () => 'v');
    await cache.getOrLoad('o1', async () => 'v');
    await cache.get('missing');
    const metrics = await registry.getMetricsAsJSON();
    const values = (name: string) => metrics.find((m) => m.name === name)?.values.map((v) => [v.labels, v.value]);
    expect(values('cache_requests_total')).toEqual(
      expect.arrayContaining([
        [{ cache: 'orders', result: 'hit' }, 1],
        [{ cache: 'orders', result: 'miss' }, 2],
      ]),
    );
    expect(values('cache_loads_total')).toEqual([[{ cache: 'orders', outcome: 'stored' }, 1]]);
  });

  it('when the cache has written values, generations and fill locks, then every key has a TTL', async () => {
    const keys = testKeys('cache');
    const cache = cacheOn(a, keys);
    await cache.set('o1', 'x');
    await cache.delete('o1');
    await cache.getOrLoad('o2', async () => 'y');
    const pending = loaderOf<string>();
    const loading = cache.getOrLoad('o3', pending.loader);
    await pending.started;
    const written = await keysUnder(a, keys.prefix);
    expect(written).toEqual(expect.arrayContaining([keys.cache('orders:o1').generation, keys.cache('orders:o3').fill]));
    const ttls = await Promise.all(written.map((key) => a.pttl(key)));
    expect(ttls.every((ttl) => ttl > 0)).toBe(true);
    pending.finish('z');
    await loading;
  });
});

describe('cache generations', () => {
  it('when a key is written, then its generation is new each time and an integer, which a version that bumps it with INCR can still write', async () => {
    const keys = testKeys('cache');
    const cache = cacheOn(a, keys);
    const generation = keys.cache('orders:o1').generation;
    await cache.delete('o1');
    const first = await a.get(generation);
    await cache.set('o1', 'x');
    const second = await a.get(generation);
    expect(first).toMatch(/^\d+$/);
    expect(second).toMatch(/^\d+$/);
    expect(second).not.toBe(first);
    await expect(a.incr(generation)).resolves.toEqual(expect.any(Number));
  });
});

describe('cache with Redis unreachable', () => {
  let dead: RedisClient;
  beforeAll(() => {
    dead = deadRedis();
  });
  afterAll(() => dead.disconnect());

  it('when getOrLoad is called, then the loader answers within 100 ms, counted as an error and logged', async () => {
    const registry = new Registry();
    const logger = { warn: jest.fn() };
    const cache = cacheOn(dead, testKeys('cache'), { registry, logger });
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      expect(await cache.getOrLoad('o1', async () => 'from-db')).toBe('from-db');
      expect(Date.now() - started).toBeLessThan(100);
    }
    const requests = await registry.getSingleMetric('cache_requests_total')?.get();
    expect(requests?.values).toEqual([{ labels: { cache: 'orders', result: 'error' }, value: 3 }]);
    // One line per interval, not one per request.
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn.mock.calls[0][0]).toMatchObject({ cache: 'orders', operation: 'get' });
  });

  it('when get is called, then it misses within 100 ms; when delete is called, then it rejects with RedisUnavailableError', async () => {
    const cache = cacheOn(dead, testKeys('cache'));
    const started = Date.now();
    expect(await cache.get('o1')).toBeUndefined();
    await expect(cache.delete('o1')).rejects.toThrow(RedisUnavailableError);
    expect(Date.now() - started).toBeLessThan(100);
  });
});

describe('cache getOrRead: a read that fills nothing', () => {
  it('when the key is cached, then its value and no load; when it is not, then the loader’s value, and the cache stays empty', async () => {
    const keys = testKeys('cache');
    const cache = cacheOn(a, keys);
    await cache.set('o1', 'paid');
    const cached = loaderOf('from-mysql');
    expect(await cache.getOrRead('o1', cached.loader)).toBe('paid');
    expect(cached.loader).not.toHaveBeenCalled();

    const missed = loaderOf('from-mysql');
    expect(await cache.getOrRead('o2', missed.loader)).toBe('from-mysql');
    expect(missed.loader).toHaveBeenCalledTimes(1);
    // Nothing stored, no fill lock or generation left behind: the next read loads again, and getOrLoad still fills.
    expect(await keysUnder(a, keys.cache('orders:o2').value.replace(/orders:o2.*$/, 'orders:o2'))).toEqual([]);
    expect(await cache.get('o2')).toBeUndefined();
    expect(await cache.getOrLoad('o2', loaderOf('filled').loader)).toBe('filled');
    expect(await cache.get('o2')).toBe('filled');
  });

  it('when the caller already read the key (prefetched), then its value is used, and a prefetched miss goes to the loader without asking Redis', async () => {
    const keys = testKeys('cache');
    const cache = cacheOn(a, keys);
    expect(await cache.getOrRead('o1', loaderOf('x').loader, { prefetched: JSON.stringify('seen') })).toBe('seen');
    // Cached now, but the caller saw a miss a moment ago: its loader answers, and the entry stays as it is.
    await cache.set('o1', 'cached');
    expect(await cache.getOrRead('o1', loaderOf('loaded').loader, { prefetched: null })).toBe('loaded');
    expect(await cache.get('o1')).toBe('cached');
  });

  it('when Redis fails, then the loader answers', async () => {
    const dead = deadRedis();
    const cache = cacheOn(dead, testKeys('cache'));
    expect(await cache.getOrRead('o1', loaderOf('from-mysql').loader)).toBe('from-mysql');
    dead.disconnect();
  });
});
