import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import type { Redis } from 'ioredis';
import { COALESCE_BATCH, reconnectDelayMs } from './client';
import type { RawScript } from './scripts';

/**
 * A second connection to a standalone Redis for the request path's one script call per request
 * (request-guard.ts), speaking RESP2 itself: commands go out as strings built in one pass,
 * replies come back through a parser that makes no more than the values, and each answer is a
 * callback. Through ioredis the same call cost a cached GET /v1/orders/{id} about a tenth of its
 * Node CPU (a Command per call with its promise, Array.flat of the arguments, a timer per command,
 * the flag look-ups). What it leaves out, its users do without: no offline queue (a call while it
 * is not connected fails at once, as the services' ioredis clients are set up to), no
 * subscriptions, RESP2 only.
 *
 * Writes of one event-loop turn leave together (one write per turn or per COALESCE_BATCH
 * commands, as coalesceWrites does for ioredis); one timer per connection fails the calls left
 * unanswered for the command timeout and drops the connection, which is made again with the
 * services' back-off (50 ms doubling to 2 s).
 */

export type Reply = string | number | null | Error | Reply[];
export type ReplyCallback = (err: Error | null, reply?: Reply) => void;

/** An error reply of Redis (`-ERR ...`, `-NOSCRIPT ...`), with Redis's own message. */
export class RedisReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisReplyError';
  }
}

export interface CommandLaneOptions {
  host: string;
  port: number;
  /** A Unix socket instead of host and port. */
  path?: string;
  username?: string;
  password?: string;
  db?: number;
  /** CLIENT SETNAME, so the connection can be told apart in CLIENT LIST. */
  name?: string;
  /** Set for TLS (`rediss://`). */
  tls?: ConnectionOptions;
  commandTimeoutMs: number;
  connectTimeoutMs?: number;
  /** Connection failures, for the caller to log (throttled there). */
  onError?: (err: Error) => void;
}

const CRLF = '\r\n';

/** One argument as a bulk string: its length counts bytes, not characters. */
function bulk(arg: string | number): string {
  const text = typeof arg === 'string' ? arg : String(arg);
  return `$${Buffer.byteLength(text)}${CRLF}${text}${CRLF}`;
}

/** A command in Redis's protocol: an array of bulk strings. */
export function encodeCommand(args: readonly (string | number)[]): string {
  let out = `*${args.length}${CRLF}`;
  for (const arg of args) out += bulk(arg);
  return out;
}

/** EVALSHA (or EVAL) of `script` on `keys` and `args`, encoded without building the argument list. */
function encodeScript(command: 'EVALSHA' | 'EVAL', body: string, keys: readonly string[], args: readonly (string | number)[]): string {
  let out = `*${3 + keys.length + args.length}${CRLF}${bulk(command)}${bulk(body)}${bulk(keys.length)}`;
  for (const key of keys) out += bulk(key);
  for (const arg of args) out += bulk(arg);
  return out;
}

const INCOMPLETE = Symbol('incomplete');
type Parsed = Reply | typeof INCOMPLETE;
const CR = 13;

/** RESP2 replies out of a byte stream that may split them anywhere. */
export class ReplyParser {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;

  feed(chunk: Buffer): void {
    this.buf = this.pos >= this.buf.length ? chunk : Buffer.concat([this.buf.subarray(this.pos), chunk]);
    this.pos = 0;
  }

  /** The next whole reply, or INCOMPLETE (nothing consumed) until more bytes arrive. */
  next(): Parsed {
    const start = this.pos;
    const value = this.value();
    if (value === INCOMPLETE) this.pos = start;
    return value;
  }

  static readonly INCOMPLETE: typeof INCOMPLETE = INCOMPLETE;

  private value(): Parsed {
    const { buf } = this;
    if (this.pos >= buf.length) return INCOMPLETE;
    const type = buf[this.pos++];
    switch (type) {
      case 0x2b /* + */: {
        return this.line();
      }
      case 0x2d /* - */: {
        const message = this.line();
        return message === INCOMPLETE ? message : new RedisReplyError(message);
      }
      case 0x3a /* : */:
        return this.integer();
      case 0x24 /* $ */: {
        const length = this.integer();
        if (length === INCOMPLETE || length < 0) return length === INCOMPLETE ? length : null;
        const end = this.pos + length;
        if (end + 2 > buf.length) return INCOMPLETE;
        const text = buf.toString('utf8', this.pos, end);
        this.pos = end + 2;
        return text;
      }
      case 0x2a /* * */: {
        const count = this.integer();
        if (count === INCOMPLETE || count < 0) return count === INCOMPLETE ? count : null;
        const items: Reply[] = new Array<Reply>(count);
        for (let i = 0; i < count; i++) {
          const item = this.value();
          if (item === INCOMPLETE) return item;
          items[i] = item;
        }
        return items;
      }
      default:
        throw new Error(`Redis protocol error: unexpected byte ${String(type)}`);
    }
  }

  private line(): string | typeof INCOMPLETE {
    const end = this.buf.indexOf(CR, this.pos);
    if (end < 0 || end + 1 >= this.buf.length) return INCOMPLETE;
    const text = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 2;
    return text;
  }

  private integer(): number | typeof INCOMPLETE {
    const { buf } = this;
    let i = this.pos;
    const negative = buf[i] === 0x2d;
    if (negative) i++;
    let n = 0;
    for (; i < buf.length && buf[i] !== CR; i++) n = n * 10 + ((buf[i] as number) - 0x30);
    if (i + 1 >= buf.length) return INCOMPLETE;
    this.pos = i + 2;
    return negative ? -n : n;
  }
}

/** A call waiting for its reply. */
interface Waiting {
  callback: ReplyCallback;
  sentAt: number;
}

export class CommandLane {
  private socket?: Socket;
  private parser = new ReplyParser();
  /** Calls in the order their replies will come; `head` is the next one answered. */
  private waiting: Waiting[] = [];
  private head = 0;
  /** Encoded commands of this turn, and how many: they leave in one write. */
  private out = '';
  private held = 0;
  private flushScheduled = false;
  private timer?: NodeJS.Timeout;
  private attempt = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private closed = false;
  /** Connected, and the handshake (AUTH, SELECT, CLIENT SETNAME) answered. */
  ready = false;

  constructor(private readonly opts: CommandLaneOptions) {
    this.connect();
  }

  /** A lane to the server of a standalone ioredis client, with its address, credentials, database, TLS and name. */
  static like(client: Redis, onError?: (err: Error) => void): CommandLane {
    const o = client.options;
    return new CommandLane({
      host: o.host ?? '127.0.0.1',
      port: Number(o.port ?? 6379),
      path: o.path,
      username: o.username,
      password: o.password,
      db: Number(o.db ?? 0),
      name: o.connectionName ? `${o.connectionName}:lane` : undefined,
      tls: o.tls,
      commandTimeoutMs: o.commandTimeout ?? 500,
      connectTimeoutMs: o.connectTimeout,
      onError,
    });
  }

  /** One command; its reply (or the failure: not connected, timed out, an error reply) goes to `callback`. */
  call(args: readonly (string | number)[], callback: ReplyCallback): void {
    this.send(encodeCommand(args), callback);
  }

  /**
   * EVALSHA of the script, and EVAL (which also loads it) after a NOSCRIPT from a Redis that
   * restarted or flushed its scripts.
   */
  script(script: RawScript, keys: readonly string[], args: readonly (string | number)[], callback: ReplyCallback): void {
    this.send(encodeScript('EVALSHA', script.sha, keys, args), (err, reply) => {
      if (err instanceof RedisReplyError && err.message.startsWith('NOSCRIPT')) {
        this.send(encodeScript('EVAL', script.lua, keys, args), callback);
      } else {
        callback(err, reply);
      }
    });
  }

  /** Stops reconnecting; calls still waiting are answered first (or fail on the command timeout). */
  close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once('close', () => resolve());
      if (this.head === this.waiting.length) socket.destroy();
    });
  }

  private send(command: string, callback: ReplyCallback): void {
    if (!this.ready || this.closed) {
      const err = new Error(this.closed ? 'Redis lane closed' : 'Redis lane not connected');
      // Never call back before the caller has returned.
      queueMicrotask(() => callback(err));
      return;
    }
    this.enqueue(command, callback);
  }

  private enqueue(command: string, callback: ReplyCallback): void {
    this.out += command;
    this.waiting.push({ callback, sentAt: Date.now() });
    if (this.timer === undefined) this.armTimer(this.opts.commandTimeoutMs);
    if (++this.held >= COALESCE_BATCH) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushLater);
    }
  }

  private readonly flushLater = () => {
    this.flushScheduled = false;
    this.flush();
  };

  private flush(): void {
    if (this.out === '') return;
    const out = this.out;
    this.out = '';
    this.held = 0;
    this.socket?.write(out);
  }

  /** One timer for all the calls: it looks at the oldest when the oldest could have timed out. */
  private armTimer(ms: number): void {
    this.timer = setTimeout(this.checkTimeouts, ms);
    this.timer.unref();
  }

  private readonly checkTimeouts = () => {
    this.timer = undefined;
    const oldest = this.waiting[this.head];
    if (oldest === undefined) return;
    const age = Date.now() - oldest.sentAt;
    if (age >= this.opts.commandTimeoutMs) {
      this.socket?.destroy(new Error(`Redis lane: no reply in ${this.opts.commandTimeoutMs} ms`));
      return;
    }
    this.armTimer(this.opts.commandTimeoutMs - age);
  };

  private connect(): void {
    const { host, port, path, tls } = this.opts;
    const where = path ? { path } : { host, port };
    const socket = tls ? connectTls({ ...where, ...tls }) : connectTcp(where);
    this.socket = socket;
    this.parser = new ReplyParser();
    socket.setNoDelay(true);
    const connectTimer = setTimeout(() => socket.destroy(new Error('Redis lane: connect timed out')), this.opts.connectTimeoutMs ?? 2_000);
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(connectTimer);
      this.handshake();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.opts.onError?.(err));
    socket.once('close', () => {
      clearTimeout(connectTimer);
      this.onClose(socket);
    });
  }

  /** AUTH, SELECT and CLIENT SETNAME as needed, then ready; a refusal drops the connection and tries again later. */
  private handshake(): void {
    const { username, password, db, name } = this.opts;
    const steps: (string | number)[][] = [];
    if (password) steps.push(username ? ['AUTH', username, password] : ['AUTH', password]);
    if (db) steps.push(['SELECT', db]);
    if (name) steps.push(['CLIENT', 'SETNAME', name]);
    if (steps.length === 0) return this.becomeReady();
    let left = steps.length;
    for (const step of steps) {
      this.enqueue(encodeCommand(step), (err) => {
        if (err) this.socket?.destroy(err);
        else if (--left === 0) this.becomeReady();
      });
    }
  }

  private becomeReady(): void {
    this.attempt = 0;
    this.ready = true;
  }

  private onData(chunk: Buffer): void {
    this.parser.feed(chunk);
    for (;;) {
      let reply: Parsed;
      try {
        reply = this.parser.next();
      } catch (err) {
        this.socket?.destroy(err as Error);
        return;
      }
      if (reply === INCOMPLETE) return;
      const call = this.waiting[this.head];
      if (call === undefined) {
        this.socket?.destroy(new Error('Redis lane: a reply that no command asked for'));
        return;
      }
      this.waiting[this.head++] = undefined as unknown as Waiting;
      if (this.head === this.waiting.length) {
        this.waiting.length = 0;
        this.head = 0;
        if (this.closed) this.socket?.destroy();
      } else if (this.head >= 1024) {
        // Under a load that never lets the queue empty, the answered calls' slots go in bulk.
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      try {
        if (reply instanceof Error) call.callback(reply);
        else call.callback(null, reply);
      } catch (err) {
        // The caller's failure, not the connection's: the replies behind it are still theirs to answer.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  private onClose(socket: Socket): void {
    if (this.socket === socket) this.socket = undefined;
    this.ready = false;
    this.out = '';
    this.held = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
    const failed = this.waiting.slice(this.head);
    this.waiting = [];
    this.head = 0;
    const err = new Error('Redis lane: connection closed before the reply');
    for (const call of failed) call.callback(err);
    if (this.closed) return;
    this.reconnectTimer = setTimeout(() => this.connect(), reconnectDelayMs(this.attempt++));
    this.reconnectTimer.unref();
  }
}

/** One lane per ioredis client, made on first use and closed when the client ends. */
const lanes = new WeakMap<Redis, CommandLane>();

/** The lane beside a standalone client (see CommandLane); it lives as long as the client does. */
export function laneOf(client: Redis, onError?: (err: Error) => void): CommandLane {
  let lane = lanes.get(client);
  if (lane === undefined) {
    const made = CommandLane.like(client, onError);
    lane = made;
    lanes.set(client, made);
    client.once('end', () => void made.close());
  }
  return lane;
}
