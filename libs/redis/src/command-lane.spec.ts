import { createServer, Socket, type Server } from 'node:net';
import { TcpProxy, uniqueSuffix } from '@platform/testing';
import { Redis } from 'ioredis';
import { settled } from '../test/redis';
import { COALESCE_BATCH } from './client';
import { CommandLane, encodeCommand, laneOf, RedisReplyError, ReplyParser, type Reply } from './command-lane';
import { rawScript } from './scripts';

/*
 * The lane speaks to a standalone Redis only (a cluster's guard keeps to ioredis), so this file
 * runs in the standalone project and is a no-op where REDIS_CLUSTER_NODES is set.
 */
const standalone = process.env['REDIS_CLUSTER_NODES'] ? describe.skip : describe;
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const { hostname: HOST, port: PORT } = new URL(REDIS_URL);

const lanes: CommandLane[] = [];
function lane(opts: Partial<ConstructorParameters<typeof CommandLane>[0]> = {}): CommandLane {
  const made = new CommandLane({ host: HOST, port: Number(PORT || 6379), commandTimeoutMs: 1_000, ...opts });
  lanes.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(lanes.splice(0).map((l) => l.close()));
});

function call(l: CommandLane, ...args: (string | number)[]): Promise<Reply | undefined> {
  return new Promise((resolve, reject) => l.call(args, (err, reply) => (err ? reject(err) : resolve(reply))));
}

async function ready(l: CommandLane = lane()): Promise<CommandLane> {
  await settled(() => l.ready);
  return l;
}

describe('ReplyParser', () => {
  const parse = (...chunks: string[]) => {
    const parser = new ReplyParser();
    const replies: unknown[] = [];
    for (const chunk of chunks) {
      parser.feed(Buffer.from(chunk));
      for (let r = parser.next(); r !== ReplyParser.INCOMPLETE; r = parser.next()) replies.push(r);
    }
    return replies;
  };

  it('when given each kind of reply, then it answers strings, numbers, null, errors and nested arrays', () => {
    const [ok, n, neg, bulk, nil, nilArray, array, err] = parse('+OK\r\n:42\r\n:-7\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n$0\r\n\r\n-ERR wrong\r\n');
    expect([ok, n, neg, bulk, nil, nilArray, array]).toEqual(['OK', 42, -7, 'hello', null, null, ['a', [1, null], '']]);
    expect(err).toBeInstanceOf(RedisReplyError);
    expect((err as Error).message).toBe('ERR wrong');
  });

  it('when a reply is split at every byte, then each comes out whole, once', () => {
    // é is two bytes: the split falls inside it too.
    const bytes = Buffer.from('*2\r\n$6\r\nhéllo\r\n:12\r\n+PONG\r\n');
    const parser = new ReplyParser();
    const replies: unknown[] = [];
    for (const byte of bytes) {
      parser.feed(Buffer.from([byte]));
      for (let r = parser.next(); r !== ReplyParser.INCOMPLETE; r = parser.next()) replies.push(r);
    }
    expect(replies).toEqual([['héllo', 12], 'PONG']);
  });

  it('when the stream holds a byte no reply starts with, then it throws', () => {
    const parser = new ReplyParser();
    parser.feed(Buffer.from('!oops\r\n'));
    expect(() => parser.next()).toThrow(/protocol error/);
  });

  it('when a command is encoded, then lengths count bytes, not characters', () => {
    expect(encodeCommand(['SET', 'k', 'é', 3])).toBe('*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\né\r\n$1\r\n3\r\n');
  });
});

standalone('CommandLane', () => {
  it('when commands are called, then each answer comes back to its own callback, values as Redis holds them', async () => {
    const l = await ready();
    const key = `t:lane:${uniqueSuffix()}`;
    const value = `{"name":"thé ${'x'.repeat(200_000)}"}`;
    expect(await call(l, 'SET', key, value, 'EX', 60)).toBe('OK');
    expect(await call(l, 'GET', key)).toBe(value);
    expect(await call(l, 'GET', `${key}:missing`)).toBeNull();
    expect(await call(l, 'INCR', `${key}:n`)).toBe(1);
    expect(await call(l, 'MGET', key, `${key}:missing`, `${key}:n`)).toEqual([value, null, '1']);
    await call(l, 'DEL', key, `${key}:n`);
    await expect(call(l, 'INCR', 'a', 'b', 'c')).rejects.toBeInstanceOf(RedisReplyError);
  });

  it('when many commands are called in one event-loop turn, then they leave in writes of COALESCE_BATCH and are answered in order', async () => {
    const l = await ready();
    const key = `t:lane:${uniqueSuffix()}`;
    const write = jest.spyOn(Socket.prototype, 'write');
    try {
      const answers = await Promise.all(Array.from({ length: 100 }, () => call(l, 'INCR', key)));
      expect(answers).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      const ours = write.mock.calls.filter(([chunk]) => String(chunk).includes(key));
      expect(ours).toHaveLength(Math.ceil(100 / COALESCE_BATCH));
    } finally {
      write.mockRestore();
      await call(l, 'DEL', key);
    }
  });

  it('when Redis has no copy of the script (flushed or restarted), then EVALSHA falls back to EVAL and the next call finds it', async () => {
    const l = await ready();
    // A script of this test's own, so flushing it from Redis's cache touches no other test's.
    const script = rawScript(`-- ${uniqueSuffix()}\nreturn {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}`);
    const run = () => new Promise<Reply | undefined>((resolve, reject) => l.script(script, ['k'], ['a', 41], (err, reply) => (err ? reject(err) : resolve(reply))));
    expect(await call(l, 'SCRIPT', 'EXISTS', script.sha)).toEqual([0]);
    expect(await run()).toEqual(['k', 'a', 42]);
    expect(await call(l, 'SCRIPT', 'EXISTS', script.sha)).toEqual([1]);
    expect(await run()).toEqual(['k', 'a', 42]);
  });

  it('when the URL names a database and a client name, then the lane selects it and names itself', async () => {
    const client = new Redis(`${REDIS_URL}/3`, { connectionName: `lane-test-${uniqueSuffix()}`, lazyConnect: true });
    const l = CommandLane.like(client);
    lanes.push(l);
    await ready(l);
    const key = `t:lane:${uniqueSuffix()}`;
    await call(l, 'SET', key, 'in-3', 'EX', 60);
    const db3 = new Redis(`${REDIS_URL}/3`);
    try {
      expect(await db3.get(key)).toBe('in-3');
      expect(await db3.client('LIST')).toContain(`name=${client.options.connectionName as string}:lane`);
    } finally {
      await db3.del(key);
      db3.disconnect();
    }
  });

  it('when nothing listens, then a call fails at once, after the caller has returned', async () => {
    const l = lane({ host: '127.0.0.1', port: 1 });
    let returned = false;
    const started = performance.now();
    const failed = new Promise<Error | null>((resolve) => {
      l.call(['PING'], (err) => {
        expect(returned).toBe(true);
        resolve(err);
      });
    });
    returned = true;
    expect(await failed).toBeInstanceOf(Error);
    expect(performance.now() - started).toBeLessThan(100);
    expect(l.ready).toBe(false);
  });

  describe('when the server goes quiet or away', () => {
    let silent: Server;
    let port: number;
    beforeAll(async () => {
      // Accepts and never answers: a hung Redis.
      silent = createServer((socket) => socket.on('data', () => undefined));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      port = (silent.address() as { port: number }).port;
    });
    afterAll(() => new Promise((resolve) => silent.close(resolve)));

    it('when no reply comes within the command timeout, then every waiting call fails then, and the lane connects again', async () => {
      const l = await ready(lane({ host: '127.0.0.1', port, commandTimeoutMs: 150 }));
      const started = performance.now();
      const outcomes = await Promise.allSettled([call(l, 'PING'), call(l, 'PING')]);
      const waited = performance.now() - started;
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
      expect(waited).toBeGreaterThanOrEqual(140);
      expect(waited).toBeLessThan(1_000);
      await settled(() => l.ready);
    });

    it('when the connection is cut and comes back, then calls fail meanwhile and work again once it reconnects', async () => {
      const proxy = await TcpProxy.forUrl(REDIS_URL).start();
      try {
        const l = await ready(lane({ host: '127.0.0.1', port: proxy.port }));
        expect(await call(l, 'PING')).toBe('PONG');
        await proxy.stop();
        await settled(() => !l.ready);
        await expect(call(l, 'PING')).rejects.toThrow(/not connected/);
        await proxy.start();
        await settled(() => l.ready);
        expect(await call(l, 'PING')).toBe('PONG');
      } finally {
        await proxy.stop();
      }
    });
  });

  it('when it is closed, then the calls already sent are answered, later ones fail, and it stays closed', async () => {
    const l = await ready();
    const answered = call(l, 'PING');
    const closing = l.close();
    expect(await answered).toBe('PONG');
    await closing;
    await expect(call(l, 'PING')).rejects.toThrow(/closed/);
    await new Promise((r) => setTimeout(r, 150));
    expect(l.ready).toBe(false);
  });

  it('when its ioredis client ends, then the lane made beside it (one per client) closes too', async () => {
    const client = new Redis(REDIS_URL);
    const l = laneOf(client);
    expect(laneOf(client)).toBe(l);
    await ready(l);
    await client.quit();
    await settled(() => !l.ready);
    await expect(call(l, 'PING')).rejects.toThrow(/closed/);
  });
});
