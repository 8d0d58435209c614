import { Socket } from 'node:net';
import { keySpace } from '@platform/redis';
import type { App } from '@platform/service-kit';
import { testKeyPrefix } from '@platform/testing';
import { Redis } from 'ioredis';
import { bearer, buildSignedIn, createOrder, type Built } from './helper';

/**
 * The platform's hot path: an authenticated, rate-limited, cached GET /v1/orders/{id} costs one
 * Redis command (the admission script: revocation, the limit and the route's cache read) and no SQL.
 * Counted on the wire: every socket write of the process during one request, kept when it
 * carries this user's or this order's id (Redis) or reads the orders tables (MySQL), so the
 * background loops (relay, consumer, marker watcher) cannot blur the count.
 */
let app: App;
let tokenFor: Built['tokenFor'];
const prefix = testKeyPrefix('order');
const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
beforeAll(async () => {
  ({ app, tokenFor } = await buildSignedIn({ REDIS_KEY_PREFIX: prefix }));
});
afterAll(async () => {
  redis.disconnect();
  await app?.close();
});

async function writesDuring(run: () => Promise<unknown>, ...needles: string[]) {
  const writes: string[] = [];
  const original = Socket.prototype.write;
  const spy = jest.spyOn(Socket.prototype, 'write').mockImplementation(function (this: Socket, ...args: unknown[]) {
    const chunk = args[0];
    writes.push(Buffer.isBuffer(chunk) ? chunk.toString('latin1') : String(chunk));
    return (original as (...a: unknown[]) => boolean).apply(this, args);
  });
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  return {
    all: writes,
    redis: writes.filter((w) => w.startsWith('*') && needles.some((n) => w.includes(n))),
    sql: writes.filter((w) => /FROM orders|FROM order_items/i.test(w)),
  };
}

/** The commands of one write in Redis's protocol (arrays of bulk strings), each as its arguments. */
function commandsOf(write: string): string[][] {
  const commands: string[][] = [];
  let at = 0;
  const line = () => {
    const end = write.indexOf('\r\n', at);
    const text = write.slice(at, end);
    at = end + 2;
    return text;
  };
  while (at < write.length) {
    const count = Number(line().slice(1));
    const args: string[] = [];
    for (let i = 0; i < count; i++) {
      const length = Number(line().slice(1));
      args.push(write.slice(at, at + length));
      at += length + 2;
    }
    commands.push(args);
  }
  return commands;
}

it('when an order is read from the cache, then the request costs one Redis command carrying the token check, the limit and the read, and no SQL', async () => {
  const { userId, token } = tokenFor();
  const order = await createOrder(app, token);
  // Fill the cache, and the verified-token cache, first.
  expect((await app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: bearer(token) })).statusCode).toBe(200);
  let status = 0;
  const { redis, sql } = await writesDuring(async () => {
    status = (await app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: bearer(token) })).statusCode;
  }, userId, order.id);
  expect(status).toBe(200);
  expect(sql).toEqual([]);
  const commands = redis.flatMap(commandsOf);
  expect(commands).toHaveLength(1);
  // The pipeline's admission script, given the revocation marks, the user's rate-limit key and the order's cache entry.
  const [name, , keyCount, ...rest] = commands[0] as string[];
  expect(name?.toLowerCase()).toBe('evalsha');
  const keys = rest.slice(0, Number(keyCount));
  expect(keys.filter((k) => k.includes(`rev:{user:${userId}}`))).toHaveLength(3);
  expect(keys.filter((k) => k.includes(`rl:{user:${userId}}`))).toHaveLength(1);
  expect(keys.filter((k) => k.includes(`cache:{orders:${order.id}}`))).toHaveLength(1);
});

it('when the order is not cached, then it is read from MySQL once and the next read is the one command again', async () => {
  const { userId, token } = tokenFor();
  const order = await createOrder(app, token);
  const miss = await writesDuring(async () => {
    expect((await app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: bearer(token) })).statusCode).toBe(200);
  }, userId, order.id);
  expect(miss.sql.length).toBeGreaterThan(0);
  const hit = await writesDuring(async () => {
    expect((await app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: bearer(token) })).statusCode).toBe(200);
  }, userId, order.id);
  expect([hit.redis.flatMap(commandsOf).length, hit.sql.length]).toEqual([1, 0]);
});

it('when an order is read from the cache, then the answer is byte for byte the one its miss gave, with the same content type', async () => {
  const { token } = tokenFor();
  const order = await createOrder(app, token);
  const read = () => app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: bearer(token) });
  const miss = await read();
  const hit = await read();
  expect([miss.statusCode, hit.statusCode]).toEqual([200, 200]);
  expect(hit.body).toBe(miss.body);
  expect(hit.headers['content-type']).toBe(miss.headers['content-type']);
  expect(hit.headers['content-length']).toBe(miss.headers['content-length']);
});

it('when a cached entry is read, then its owner is the userId it holds, however its JSON is spelled', async () => {
  const { userId, token } = tokenFor();
  const other = tokenFor();
  const order = await createOrder(app, token);
  const entry = keySpace(prefix).cache(`orders:${order.id}`).value;
  // The owner's order, its members in another order: still the owner's.
  const { id, userId: owner, ...rest } = order;
  // Entries carry the row's version (orders.ts): one without it would be read from MySQL instead.
  await redis.set(entry, JSON.stringify({ userId: owner, version: 1, ...rest, id }), 'EX', 60);
  const own = await app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: bearer(token) });
  expect(own.statusCode).toBe(200);
  expect(own.json()).toEqual(order);
  expect((await app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: bearer(other.token) })).statusCode).toBe(404);
  // The same entry naming another owner: not this user's order, whatever its first bytes say.
  await redis.set(entry, JSON.stringify({ id, userId: other.userId, ...rest, version: 1 }), 'EX', 60);
  expect((await app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: bearer(token) })).statusCode).toBe(404);
  expect(userId).toBe(owner);
});

it('when a cached order is read with If-None-Match naming its ETag, then 304 from the one Redis command, and no SQL', async () => {
  const { userId, token } = tokenFor();
  const order = await createOrder(app, token);
  const first = await app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: bearer(token) });
  const tag = first.headers['etag'] as string;
  let answer = { status: 0, body: 'unset' };
  const { redis, sql } = await writesDuring(async () => {
    const res = await app.inject({ method: 'GET', url: `/v1/orders/${order.id}`, headers: { ...bearer(token), 'if-none-match': tag } });
    answer = { status: res.statusCode, body: res.body };
  }, userId, order.id);
  expect(answer).toEqual({ status: 304, body: '' });
  expect(sql).toEqual([]);
  expect(redis.flatMap(commandsOf)).toHaveLength(1);
});

it('when an order is cancelled, with If-Match or without, then it costs the same two statements: the conditional UPDATE, the order with its items read back', async () => {
  const { userId, token } = tokenFor();
  const statementsOf = async (ifMatch: (id: string) => Record<string, string>) => {
    const order = await createOrder(app, token);
    const hex = order.id.replace(/-/g, '').toLowerCase();
    const { all } = await writesDuring(async () => {
      const res = await app.inject({ method: 'POST', url: `/v1/orders/${order.id}/cancel`, headers: { ...bearer(token), ...ifMatch(order.id) } });
      expect(res.statusCode).toBe(200);
    }, userId);
    // MySQL statements about this order (its id travels as a hex literal); Redis's carry the UUID's spelling.
    return all.filter((w) => !w.startsWith('*') && w.toLowerCase().includes(hex)).map((w) => /\b(UPDATE|SELECT)\b/.exec(w)?.[1] ?? 'other');
  };
  expect(await statementsOf(() => ({}))).toEqual(['UPDATE', 'SELECT']);
  expect(await statementsOf((id) => ({ 'if-match': `"${id}.1"` }))).toEqual(['UPDATE', 'SELECT']);
});
