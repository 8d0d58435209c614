import { generateKeyPairSync } from 'node:crypto';
import { DependencyUnavailableError, httpAgent } from '@platform/service-kit';
import { closedPort, startSilentServer } from '@platform/service-kit/testing';
import { generateSigningKey, startJwksServer, type TestJwksServer } from '../test';
import { jwksKeySource, staticKeySource } from './key-source';

const k1 = generateSigningKey('k1');
const k2 = generateSigningKey('k2');
const servers: TestJwksServer[] = [];
/** What a service's `app.peers` is, with its bounds; undici checks them on half-second ticks. */
const TIMEOUT_MS = 500;
const dispatcher = httpAgent({ connectTimeoutMs: TIMEOUT_MS, timeoutMs: TIMEOUT_MS });

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(() => dispatcher.close());

async function jwks(...keys: (typeof k1)[]): Promise<TestJwksServer> {
  const server = await startJwksServer(keys);
  servers.push(server);
  return server;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('JWKS key source', () => {
  it('when many requests want a published key at once, then one fetch serves them all', async () => {
    const server = await jwks(k1);
    const source = jwksKeySource({ url: server.url, dispatcher });
    const keys = await Promise.all(Array.from({ length: 20 }, () => source.key('k1')));
    expect(keys.every((k) => k?.equals(k1.publicKey))).toBe(true);
    expect(server.hits()).toBe(1);
  });

  it('when the set holds keys that are not Ed25519 signing keys, then they are skipped and the rest kept', async () => {
    const server = await jwks(k1);
    const rsa = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }), kid: 'rsa' };
    const encryption = { ...k2.jwk, kid: 'enc', use: 'enc' };
    const broken = { kty: 'OKP', crv: 'Ed25519', x: '!!', kid: 'broken' };
    server.publish([k1, { ...k2, jwk: rsa }, { ...k2, jwk: encryption }, { ...k2, jwk: broken }] as (typeof k1)[]);
    const source = jwksKeySource({ url: server.url, dispatcher, minRefetchIntervalMs: 60_000 });
    expect(await source.key('k1')).toBeDefined();
    for (const kid of ['rsa', 'enc', 'broken']) expect(await source.key(kid)).toBeUndefined();
  });

  it('when a flood of 50 unknown kids arrives, then the JWKS is fetched at most once per interval', async () => {
    const server = await jwks(k1);
    const source = jwksKeySource({ url: server.url, dispatcher, minRefetchIntervalMs: 300 });
    await source.key('k1');
    const flood = await Promise.all(Array.from({ length: 50 }, (_, i) => source.key(`made-up-${i}`)));
    expect(flood.every((k) => k === undefined)).toBe(true);
    for (let i = 0; i < 50; i++) await source.key(`made-up-again-${i}`);
    // The first fetch, then at most one more for the whole flood within the interval.
    expect(server.hits()).toBeLessThanOrEqual(2);
    await sleep(350);
    await source.key('after-the-interval');
    expect(server.hits()).toBeLessThanOrEqual(3);
  });

  it('when a new key is published (rotation), then a token naming it finds it after one refetch', async () => {
    const server = await jwks(k1);
    const source = jwksKeySource({ url: server.url, dispatcher, minRefetchIntervalMs: 0 });
    expect(await source.key('k1')).toBeDefined();
    server.publish([k1, k2]);
    expect((await source.key('k2'))?.equals(k2.publicKey)).toBe(true);
    expect(server.hits()).toBe(2);
  });

  it('when the known keys are older than maxAgeMs, then they are served and renewed in the background; a withdrawn key goes', async () => {
    const server = await jwks(k1, k2);
    const source = jwksKeySource({ url: server.url, dispatcher, maxAgeMs: 50, minRefetchIntervalMs: 0 });
    expect(await source.key('k1')).toBeDefined();
    server.publish([k2]);
    await sleep(80);
    // Served from the cache at once, while the set is fetched again.
    expect(await source.key('k1')).toBeDefined();
    await sleep(50);
    expect(server.hits()).toBe(2);
    expect(await source.key('k1')).toBeUndefined();
  });

  it('when the JWKS cannot be fetched and no key is known, then key() throws DependencyUnavailableError', async () => {
    const server = await jwks(k1);
    server.fail(true);
    const source = jwksKeySource({ url: server.url, dispatcher, minRefetchIntervalMs: 0 });
    await expect(source.key('k1')).rejects.toBeInstanceOf(DependencyUnavailableError);
    server.fail(false);
    expect(await source.key('k1')).toBeDefined();
  });

  it('when nothing listens at the JWKS address, then key() throws DependencyUnavailableError at once', async () => {
    const source = jwksKeySource({ url: `http://127.0.0.1:${await closedPort()}/.well-known/jwks.json`, dispatcher });
    const started = performance.now();
    await expect(source.key('k1')).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('when user-service accepts the connection and never answers, then key() throws DependencyUnavailableError after the timeout', async () => {
    const silent = await startSilentServer();
    try {
      const source = jwksKeySource({ url: `${silent.url}/.well-known/jwks.json`, dispatcher });
      const started = performance.now();
      await expect(source.key('k1')).rejects.toBeInstanceOf(DependencyUnavailableError);
      // The bound, up to half a second of undici's clock, and a second of slack for a loaded machine.
      expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 500 + 1_000);
    } finally {
      await silent.close();
    }
  });

  it('when the JWKS fails after keys were loaded, then the known keys keep working and unknown kids are just unknown', async () => {
    const server = await jwks(k1);
    const warn = jest.fn();
    const source = jwksKeySource({ url: server.url, dispatcher, minRefetchIntervalMs: 0, logger: { warn } });
    await source.key('k1');
    server.fail(true);
    expect(await source.key('k2')).toBeUndefined();
    expect(await source.key('k1')).toBeDefined();
    expect(warn).toHaveBeenCalledWith(expect.objectContaining({ knownKeys: 1 }), 'JWKS fetch failed');
  });
});

describe('static key source', () => {
  it('when asked for a kid, then it answers from the keys the getter returns now', async () => {
    let keys = new Map([['k1', k1.publicKey]]);
    const source = staticKeySource(() => keys);
    expect(await source.key('k1')).toBe(k1.publicKey);
    keys = new Map([['k2', k2.publicKey]]);
    expect(await source.key('k1')).toBeUndefined();
    expect(await source.key('k2')).toBe(k2.publicKey);
  });
});
