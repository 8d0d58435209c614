import { readEventStream, type EventStreamReader } from '@platform/testing';

/**
 * A client that follows an order's live status (GET /v1/orders/{id}/events) as an EventSource
 * does: whenever the stream ends or cannot be opened it connects again after a moment, sending
 * the id of the last event it got as Last-Event-ID, until nothing more will come (204), until
 * it has what it waits for, or until its deadline. It records every event and every connection,
 * so that a test can say what the client saw: each status change once, in version order.
 *
 * Reconnections take the order-service instances in turn, as a load balancer in front of them
 * would spread them; an instance that refuses or answers anything but 200 or 204 (a 503 while
 * Redis is away, a 429) is tried again later, as is the next one.
 */

/** One event as the follower got it. */
export interface FollowedEvent {
  /** The event's id: the order's version. */
  version: number;
  status: string;
  /** Which connection of the follower (0-based) brought it, and on which instance. */
  connection: number;
  instance: number;
  at: number;
}

/** One attempt to open the stream, and how it went. */
export interface FollowConnection {
  instance: number;
  /** The Last-Event-ID sent, if any. */
  lastEventId?: string;
  /** The answer's status; 0: no answer (refused, reset). */
  status: number;
  startedAt: number;
  /** When the stream ended (200 only), and whether its answer was complete rather than cut off. */
  endedAt?: number;
  clean?: boolean;
  /** The comments it carried, in order (`keep-alive`, `closed: …`). */
  comments: string[];
  /** Events it carried. */
  events: number;
  /** The problem's code, or the connection error, when it did not answer 200 or 204. */
  problem?: string;
}

export interface FollowOutcome {
  /**
   * `gone`: a 204 said nothing more will come; `reached`: `until` held; `deadline`: time ran out;
   * `stopped`: stop() was called; `repeated`: an event came whose version was not above the last
   * one's (an EventSource would go on, but the client has already seen something twice or out of order).
   */
  end: 'gone' | 'reached' | 'deadline' | 'stopped' | 'repeated';
  events: FollowedEvent[];
  connections: FollowConnection[];
}

export interface FollowOptions {
  /** The order-service base URLs, and the instance of the first connection. */
  instances: readonly string[];
  firstInstance?: number;
  /** Stops after an event for which this holds (a PAID order's stream stays open); default: only a 204 ends it. */
  until?: (event: FollowedEvent) => boolean;
  /** The client gives up after this long (default 60 s). */
  deadlineMs?: number;
  /** The wait before each reconnection (default 500 ms; the service asks for 1 s, but tests wait for less). */
  retryMs?: number;
  /** Sent with every connection (X-Forwarded-For, say). */
  headers?: Record<string, string>;
}

export interface OrderFollower {
  /** Everything so far: grows while the follower runs. */
  readonly events: readonly FollowedEvent[];
  readonly connections: readonly FollowConnection[];
  /** Resolves when the follower ends (never rejects). */
  readonly done: Promise<FollowOutcome>;
  /** Resolves once `n` events have come (rejects if the follower ends before, or after timeoutMs). */
  eventCount(n: number, timeoutMs?: number): Promise<void>;
  /** Ends the follower: the open connection is dropped. */
  stop(): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function followOrder(orderId: string, token: string, opts: FollowOptions): OrderFollower {
  const { instances, until, deadlineMs = 60_000, retryMs = 500, headers = {} } = opts;
  const events: FollowedEvent[] = [];
  const connections: FollowConnection[] = [];
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  let stopped = false;
  let current: EventStreamReader | undefined;
  let wakeSleep: () => void = () => undefined;
  let finished = false;

  const run = async (): Promise<FollowOutcome['end']> => {
    const deadline = Date.now() + deadlineMs;
    let instance = opts.firstInstance ?? 0;
    for (;;) {
      if (stopped) return 'stopped';
      if (Date.now() > deadline) return 'deadline';
      const last = events.at(-1);
      const conn: FollowConnection = { instance, status: 0, startedAt: Date.now(), comments: [], events: 0 };
      if (last) conn.lastEventId = String(last.version);
      connections.push(conn);
      const index = connections.length - 1;
      const url = `${instances[instance % instances.length]}/v1/orders/${orderId}/events`;
      instance = (instance + 1) % instances.length;
      let reader: EventStreamReader | undefined;
      try {
        reader = await readEventStream(url, { authorization: `Bearer ${token}`, ...headers, ...(last ? { 'last-event-id': String(last.version) } : {}) });
      } catch (err) {
        conn.problem = (err as Error).message;
      }
      if (reader) {
        conn.status = reader.status;
        if (reader.status === 204) return 'gone';
        if (reader.status !== 200) {
          conn.problem = /"code":"([A-Z_]+)"/.exec(await reader.text())?.[1] ?? 'no problem code';
        } else {
          const r = reader;
          current = r;
          // Takes each event as it comes, so that `until` stops the follower at once.
          let taken = 0;
          let reached = false;
          let repeated = false;
          const take = () => {
            for (; taken < r.events.length; taken++) {
              const e = r.events[taken] as EventStreamReader['events'][number];
              const status = (JSON.parse(e.data) as { status: string }).status;
              const event: FollowedEvent = { version: Number(e.id), status, connection: index, instance: conn.instance, at: e.at };
              if (!(event.version > (events.at(-1)?.version ?? 0))) repeated = true;
              events.push(event);
              conn.events++;
              if (until?.(event)) reached = true;
            }
            wake();
          };
          for (;;) {
            take();
            if (reached || repeated || reader.isEnded || stopped || Date.now() > deadline) break;
            await Promise.race([reader.event(taken, Math.max(1, deadline - Date.now())).catch(() => undefined), reader.ended]);
          }
          take();
          conn.comments = [...reader.comments];
          if (reader.isEnded) {
            const how = await reader.ended;
            Object.assign(conn, { endedAt: how.at, clean: how.clean });
          } else reader.close();
          current = undefined;
          if (repeated) return 'repeated';
          if (reached) return 'reached';
        }
      }
      await Promise.race([sleep(retryMs), new Promise<void>((resolve) => (wakeSleep = resolve))]);
    }
  };

  const done = run().then((end) => {
    finished = true;
    wake();
    return { end, events, connections };
  });

  return {
    events,
    connections,
    done,
    eventCount(n, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => settle(() => reject(new Error(`order ${orderId}: ${events.length} of ${n} events after ${timeoutMs} ms`))), timeoutMs);
        const settle = (then: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          then();
        };
        const check = () => {
          if (events.length >= n) settle(resolve);
          else if (finished) settle(() => reject(new Error(`order ${orderId}: the follower ended with ${events.length} of ${n} events`)));
        };
        waiters.add(check);
        check();
      });
    },
    stop() {
      stopped = true;
      current?.close();
      wakeSleep();
    },
  };
}

/** The follower's events as `version status` lines, for assertions that print what was seen. */
export const history = (events: readonly FollowedEvent[]): string[] => events.map((e) => `${e.version} ${e.status}`);

/** What a follower that saw every change of an order once, in order, has: `1 PENDING`, `2 PAID`, … */
export const expectedHistory = (...statuses: string[]): string[] => statuses.map((s, i) => `${i + 1} ${s}`);
