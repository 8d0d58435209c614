import { startRedisSentinel, type LocalRedisSentinel } from '../test/redis-sentinel';
import { closeAll, testKeys } from '../test/redis';
import { Redis } from 'ioredis';
import { createRedisClient, followingSentinels, REQUEST_PATH_OPTIONS, sentinelOptions, type RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import { lossMarker } from './loss-marker';
import { createRevocation } from './revocation';

/**
 * The client on Redis Sentinel, against real processes: a primary, a replica and three sentinels
 * (libs/redis/test/redis-sentinel.ts). Each test that fails over starts a setup of its own.
 */
let setup: LocalRedisSentinel;
const clients: RedisClient[] = [];

afterEach(async () => {
  await closeAll(...clients.splice(0));
  await setup?.stop();
});

function sentinelClient(): RedisClient {
  const client = createRedisClient({ url: 'redis://ignored-host:1', sentinels: setup.sentinels, sentinelName: setup.name, commandTimeoutMs: 500 });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

async function ready(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve) => client.once('ready', () => resolve()));
}

/** Retries `run` every 20 ms until it succeeds; answers its result and how long it failed. */
async function untilItWorks<T>(run: () => Promise<T>, timeoutMs = 20_000): Promise<{ value: T; failingMs: number }> {
  const started = Date.now();
  for (;;) {
    try {
      return { value: await run(), failingMs: Date.now() - started };
    } catch (err) {
      if (Date.now() - started > timeoutMs) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

it('when the services are given sentinels, then the client reaches the primary they name, and so do its duplicates', async () => {
  setup = await startRedisSentinel();
  const client = sentinelClient();
  await ready(client);
  const keys = testKeys('sentinel');
  await client.set(keys.revokedToken('u', 'a'), 'written');
  expect((await client.call('ROLE')) as unknown[]).toEqual(expect.arrayContaining(['master']));
  const dup = followingSentinels(client.duplicate());
  dup.on('error', () => undefined);
  clients.push(dup);
  await ready(dup);
  expect(await dup.get(keys.revokedToken('u', 'a'))).toBe('written');
  expect(((await dup.call('ROLE')) as unknown[])[0]).toBe('master');
}, 60_000);

it('when the primary is killed, then the client follows the failover to the promoted replica by itself', async () => {
  setup = await startRedisSentinel();
  const client = sentinelClient();
  await ready(client);
  const keys = testKeys('sentinel');
  await client.set(keys.revokedToken('u', 'before'), '1');
  await client.wait(1, 1_000);
  const killedAt = Date.now();
  const old = setup.killPrimary();
  const { failingMs } = await untilItWorks(() => client.set(keys.revokedToken('u', 'after'), '1'));
  const promoted = await setup.waitForNewPrimary(old);
  expect(promoted).not.toBe(old);
  expect(await client.get(keys.revokedToken('u', 'before'))).toBe('1');
  expect(((await client.call('ROLE')) as unknown[])[0]).toBe('master');
  process.stdout.write(`sentinel failover: writes failed for ${failingMs} ms (${Date.now() - killedAt} ms since the kill)\n`);
  expect(failingMs).toBeLessThan(10_000);
}, 60_000);

it('when the promotion is announced while clients are reconnecting, then every client reaches the new primary, none is left ended', async () => {
  setup = await startRedisSentinel();
  // The platform's Sentinel clients, except that they try again at once rather than after 50 ms to
  // 1 s: most of the time one of them is asking a sentinel for the primary, which is when the
  // announcement made ioredis end a client for good (9 of 20 here, before followingSentinels).
  const config = { url: 'redis://ignored-host:1', sentinels: setup.sentinels, sentinelName: setup.name, commandTimeoutMs: 500 };
  const eager = Array.from({ length: 20 }, () => {
    const client = followingSentinels(new Redis(sentinelOptions(config, { ...REQUEST_PATH_OPTIONS, commandTimeout: 500, retryStrategy: () => 1 })));
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  });
  const ended = new Set<RedisClient>();
  for (const client of eager) client.on('end', () => ended.add(client));
  await Promise.all(eager.map(ready));
  const old = setup.killPrimary();
  const promoted = await setup.waitForNewPrimary(old);
  const roles = await Promise.all(eager.map((client) => untilItWorks(() => client.call('ROLE') as Promise<unknown[]>, 10_000)));
  expect(roles.map(({ value }) => value[0])).toEqual(eager.map(() => 'master'));
  expect(eager.map((client) => client.status)).toEqual(eager.map(() => 'ready'));
  process.stdout.write(`sentinel failover, 20 clients reconnecting at once to ${promoted}: ${ended.size} ended on their own and connected again\n`);
}, 60_000);

it('when a Sentinel client is closed, then it stays closed', async () => {
  setup = await startRedisSentinel();
  const client = sentinelClient();
  await ready(client);
  await closeAll(client);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(client.status).toBe('end');
}, 60_000);

it('when the primary fails over, then a marker that survived on the replica counts as gone, and the revocation checks fail closed until it is written again', async () => {
  setup = await startRedisSentinel();
  const client = sentinelClient();
  await ready(client);
  const keys = testKeys('sentinel-marker');
  const marker = lossMarker(client, keys.revocationMarker());
  const revocation = createRevocation({ client, keys });
  await marker.set(60);
  expect(await marker.touch(60)).toBe(true);
  expect(await revocation.checkMarker()).toBe(true);
  const query = { userId: 'u1', jti: 'j1', sessionId: 's1', issuedAtMs: Date.now() - 1_000 };
  expect(await revocation.isRevoked(query)).toBe(false);
  // Replicated before the failover: the promoted replica holds the marker, yet may lack later writes.
  expect(await client.wait(1, 1_000)).toBe(1);
  const old = setup.killPrimary();
  await untilItWorks(() => client.ping());
  await setup.waitForNewPrimary(old);
  expect(await client.get(keys.revocationMarker())).not.toBeNull();
  expect(await marker.touch(60)).toBe(false);
  await expect(revocation.isRevoked(query)).rejects.toBeInstanceOf(RedisUnavailableError);
  expect(await revocation.checkMarker()).toBe(false);
  await expect(revocation.isRevoked(query)).rejects.toBeInstanceOf(RedisUnavailableError);
  // What user-service does once it has written the marks back from MySQL.
  await marker.set(60);
  expect(await revocation.checkMarker()).toBe(true);
  expect(await revocation.isRevoked(query)).toBe(false);
}, 60_000);
