import type { IdempotencyStore } from '@platform/redis';
import type { FastifyRequest } from 'fastify';

/** The key this request holds until its answer is stored or dropped. */
export interface Held {
  scope: string;
  key: string;
  token: string;
  /** Stops the heartbeat; idempotent. */
  stop: () => void;
}

/**
 * Extends the request's in-flight record every lockTtl/3 while it runs, so a slow handler
 * keeps its key while a crashed process still frees it within one TTL. A Redis hiccup is
 * retried while the record may still live; once it is surely gone, or no longer ours (it
 * ran out and a retry took it), the request is logged and the heartbeat stops: its
 * `complete` will be refused. The timer never keeps the process up (unref) and every
 * running heartbeat is in `running`, so the app's close stops them all.
 */
export function heartbeat(
  store: IdempotencyStore,
  request: FastifyRequest,
  hold: Omit<Held, 'stop'>,
  begunAt: number,
  limits: { running: Set<() => void>; maxHoldMs: number },
) {
  const { running } = limits;
  const every = Math.max(1, Math.floor(store.lockTtlMs / 3));
  let expiresAt = begunAt + store.lockTtlMs;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    running.delete(stop);
  };
  const schedule = (ms: number) => {
    timer = setTimeout(tick, ms).unref();
  };
  const lost = (err?: unknown) => {
    request.log.warn({ err }, 'idempotency record is no longer held; a retry may run this request again');
    stop();
  };
  async function tick() {
    const started = Date.now();
    if (started - begunAt >= limits.maxHoldMs) {
      request.log.warn({ maxHoldMs: limits.maxHoldMs }, 'idempotency key held too long; it frees itself within one lock TTL');
      return stop();
    }
    try {
      const ours = await store.extend(hold.scope, hold.key, hold.token);
      if (stopped) return;
      if (!ours) return lost();
      expiresAt = started + store.lockTtlMs;
      schedule(every);
    } catch (err) {
      if (stopped) return;
      const left = expiresAt - Date.now();
      if (left <= 0) return lost(err);
      schedule(Math.max(10, Math.min(every, left / 2)));
    }
  }
  running.add(stop);
  schedule(every);
  return stop;
}
