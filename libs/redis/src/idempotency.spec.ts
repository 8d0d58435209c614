import { Registry } from 'prom-client';
import { closeAll, deadRedis, testKeys, testRedis } from '../test/redis';
import type { RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import { canonicalJson, createIdempotencyStore, requestFingerprint, type IdempotencyStore, type StoredResponse } from './idempotency';
import type { KeySpace } from './keys';

const FP = requestFingerprint('POST', '/v1/payments', { amount: 100, currency: 'EUR' });
const OTHER_FP = requestFingerprint('POST', '/v1/payments', { amount: 200, currency: 'EUR' });
const CREATED: StoredResponse = {
  status: 201,
  headers: { 'content-type': 'application/json; charset=utf-8', location: '/v1/payments/p1' },
  body: '{"id":"p1"}',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let clients: RedisClient[];
let keys: KeySpace;
let store: IdempotencyStore;

beforeAll(async () => {
  clients = await Promise.all([testRedis(), testRedis(), testRedis()]);
});

afterAll(() => closeAll(...clients));

beforeEach(() => {
  keys = testKeys('idem');
  store = createIdempotencyStore({ client: clients[0] as RedisClient, keys, lockTtlSeconds: 5 });
});

/** Stores on independent connections, as three service instances would have. */
function instances(lockTtlSeconds = 5): IdempotencyStore[] {
  return clients.map((client) => createIdempotencyStore({ client, keys, lockTtlSeconds }));
}

async function taken(s: IdempotencyStore, key: string, fingerprint = FP): Promise<string> {
  const result = await s.begin('user-1', key, fingerprint);
  if (result.state !== 'new') throw new Error(`expected new, got ${result.state}`);
  return result.token;
}

describe('idempotency store', () => {
  it('when 50 begins of one key race over 3 connections, then exactly 1 is new and the rest are in progress', async () => {
    const stores = instances();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (stores[i % 3] as IdempotencyStore).begin('user-1', 'race', FP)));
    expect(results.filter((r) => r.state === 'new')).toHaveLength(1);
    expect(results.filter((r) => r.state === 'in-progress')).toHaveLength(49);
  });

  it('when the holder completed, then the same request replays its status, headers and body', async () => {
    const token = await taken(store, 'k');
    expect(await store.complete('user-1', 'k', token, CREATED)).toBe(true);
    expect(await (instances()[2] as IdempotencyStore).begin('user-1', 'k', FP)).toEqual({ state: 'replay', response: CREATED });
  });

  it('when the same key comes with another fingerprint, then it is a mismatch while running and after completion', async () => {
    const token = await taken(store, 'k');
    expect(await store.begin('user-1', 'k', OTHER_FP)).toEqual({ state: 'mismatch' });
    await store.complete('user-1', 'k', token, CREATED);
    expect(await store.begin('user-1', 'k', OTHER_FP)).toEqual({ state: 'mismatch' });
  });

  it('when the first request is still running, then a retry is told it is in progress, with a short retry-after', async () => {
    await taken(store, 'k');
    expect(await store.begin('user-1', 'k', FP)).toEqual({ state: 'in-progress', retryAfterSeconds: 1 });
  });

  it('when the same key is used in another scope, then it is a new request there', async () => {
    await taken(store, 'k');
    expect((await store.begin('user-2', 'k', FP)).state).toBe('new');
  });

  it('when the holder dies without completing, then the key is free again after the lock TTL', async () => {
    const [a, b] = instances(0.2) as [IdempotencyStore, IdempotencyStore];
    await taken(a, 'crash');
    expect((await b.begin('user-1', 'crash', FP)).state).toBe('in-progress');
    await sleep(300);
    expect((await b.begin('user-1', 'crash', FP)).state).toBe('new');
  });

  it('when the holder abandons, then the key is free at once and the old token is refused', async () => {
    const token = await taken(store, 'k');
    expect(await store.abandon('user-1', 'k', token)).toBe(true);
    const again = await store.begin('user-1', 'k', OTHER_FP);
    expect(again.state).toBe('new');
    expect(await store.abandon('user-1', 'k', token)).toBe(false);
    expect(await store.complete('user-1', 'k', token, CREATED)).toBe(false);
  });

  it('when a non-owner token completes or abandons, then it is refused and the holder keeps the key', async () => {
    const token = await taken(store, 'k');
    expect(await store.complete('user-1', 'k', 'not-the-token', CREATED)).toBe(false);
    expect(await store.abandon('user-1', 'k', 'not-the-token')).toBe(false);
    expect((await store.begin('user-1', 'k', FP)).state).toBe('in-progress');
    expect(await store.complete('user-1', 'k', token, CREATED)).toBe(true);
  });

  it('when a holder completes after its lock ran out and a retry took the key, then only the retry stores', async () => {
    const [a, b] = instances(0.15) as [IdempotencyStore, IdempotencyStore];
    const late = await taken(a, 'slow');
    await sleep(250);
    const retry = await taken(b, 'slow');
    expect(await a.complete('user-1', 'slow', late, { ...CREATED, body: '{"id":"late"}' })).toBe(false);
    expect(await b.complete('user-1', 'slow', retry, CREATED)).toBe(true);
    expect(await a.begin('user-1', 'slow', FP)).toEqual({ state: 'replay', response: CREATED });
  });

  it('when the holder extends its record, then it stays in flight past its first TTL and a retry is told it is in progress', async () => {
    const [a, b] = instances(0.3) as [IdempotencyStore, IdempotencyStore];
    expect(a.lockTtlMs).toBe(300);
    const token = await taken(a, 'long');
    for (let i = 0; i < 5; i++) {
      await sleep(100);
      expect(await a.extend('user-1', 'long', token)).toBe(true);
    }
    // 500 ms in: well past the first 300 ms TTL, and still in flight.
    expect((await b.begin('user-1', 'long', FP)).state).toBe('in-progress');
    expect(await clients[1]?.pttl(keys.idempotency('user-1', 'long'))).toBeLessThanOrEqual(300);
    expect(await a.complete('user-1', 'long', token, CREATED)).toBe(true);
    expect(await b.begin('user-1', 'long', FP)).toEqual({ state: 'replay', response: CREATED });
  });

  it('when a non-owner token extends, then it is refused and the record still runs out at its own TTL', async () => {
    const [a, b] = instances(0.3) as [IdempotencyStore, IdempotencyStore];
    const token = await taken(a, 'k');
    await sleep(200);
    expect(await b.extend('user-1', 'k', 'not-the-token')).toBe(false);
    await sleep(150);
    expect(await b.extend('user-1', 'k', 'not-the-token')).toBe(false);
    expect(await a.extend('user-1', 'k', token)).toBe(false);
    expect((await b.begin('user-1', 'k', FP)).state).toBe('new');
  });

  it('when the record is completed, abandoned or taken by a retry, then extend is refused and changes nothing', async () => {
    const done = await taken(store, 'done');
    await store.complete('user-1', 'done', done, CREATED);
    expect(await store.extend('user-1', 'done', done)).toBe(false);
    expect(await clients[1]?.pttl(keys.idempotency('user-1', 'done'))).toBeGreaterThan(86_399_000);

    const dropped = await taken(store, 'dropped');
    await store.abandon('user-1', 'dropped', dropped);
    expect(await store.extend('user-1', 'dropped', dropped)).toBe(false);
    expect(await clients[1]?.exists(keys.idempotency('user-1', 'dropped'))).toBe(0);

    const [a, b] = instances(0.15) as [IdempotencyStore, IdempotencyStore];
    const late = await taken(a, 'taken');
    await sleep(250);
    const retry = await taken(b, 'taken');
    expect(await a.extend('user-1', 'taken', late)).toBe(false);
    expect(await b.complete('user-1', 'taken', retry, CREATED)).toBe(true);
  });

  it('when a response is stored, then it is kept at least 24 hours and a second complete is refused', async () => {
    const token = await taken(store, 'k');
    const key = keys.idempotency('user-1', 'k');
    const client = clients[1] as RedisClient;
    expect(await client.pttl(key)).toBeLessThanOrEqual(5_000);
    await store.complete('user-1', 'k', token, CREATED);
    expect(await client.pttl(key)).toBeGreaterThan(86_399_000);
    expect(await store.complete('user-1', 'k', token, { ...CREATED, status: 200 })).toBe(false);
    expect(await store.abandon('user-1', 'k', token)).toBe(false);
  });

  it('when configured to keep responses less than 24 hours, then the store refuses to start', () => {
    expect(() => createIdempotencyStore({ client: clients[0] as RedisClient, keys, retentionSeconds: 3_600 })).toThrow(RangeError);
    expect(() => createIdempotencyStore({ client: clients[0] as RedisClient, keys, lockTtlSeconds: 0 })).toThrow(RangeError);
  });

  it('when a request is replayed, then idempotency_replays_total counts it', async () => {
    const registry = new Registry();
    const counted = createIdempotencyStore({ client: clients[0] as RedisClient, keys, registry });
    await counted.complete('user-1', 'k', await taken(counted, 'k'), CREATED);
    await counted.begin('user-1', 'k', FP);
    await counted.begin('user-1', 'k', FP);
    expect((await registry.getSingleMetric('idempotency_replays_total')?.get())?.values[0]?.value).toBe(2);
  });

  it('when Redis is down, then each step fails within 100 ms with RedisUnavailableError', async () => {
    const dead = deadRedis();
    const registry = new Registry();
    const down = createIdempotencyStore({ client: dead, keys, registry });
    try {
      for (const step of [() => down.begin('u', 'k', FP), () => down.complete('u', 'k', 't', CREATED), () => down.abandon('u', 'k', 't'), () => down.extend('u', 'k', 't')]) {
        const started = Date.now();
        await expect(step()).rejects.toBeInstanceOf(RedisUnavailableError);
        expect(Date.now() - started).toBeLessThan(100);
      }
      expect((await registry.getSingleMetric('idempotency_redis_errors_total')?.get())?.values).toHaveLength(4);
    } finally {
      dead.disconnect();
    }
  });
});

describe('request fingerprint', () => {
  it('when only the order of object keys differs, then the fingerprint is the same', () => {
    const a = requestFingerprint('post', '/v1/orders', { items: [{ sku: 'a', qty: 1 }], note: null, extra: undefined });
    const b = requestFingerprint('POST', '/v1/orders', { note: null, items: [{ qty: 1, sku: 'a' }] });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(canonicalJson({ b: [2, { d: 1, c: 'x' }], a: true })).toBe('{"a":true,"b":[2,{"c":"x","d":1}]}');
  });

  it('when the method, path, a value or the array order differ, then the fingerprints differ', () => {
    const base = requestFingerprint('POST', '/v1/payments/p1/refunds', { amount: 1, tags: ['a', 'b'] });
    const others = [
      requestFingerprint('PUT', '/v1/payments/p1/refunds', { amount: 1, tags: ['a', 'b'] }),
      requestFingerprint('POST', '/v1/payments/p2/refunds', { amount: 1, tags: ['a', 'b'] }),
      requestFingerprint('POST', '/v1/payments/p1/refunds', { amount: '1', tags: ['a', 'b'] }),
      requestFingerprint('POST', '/v1/payments/p1/refunds', { amount: 1, tags: ['b', 'a'] }),
    ];
    expect(new Set([base, ...others]).size).toBe(5);
  });
});
