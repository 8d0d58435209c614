import type { IdempotencyStore } from '@platform/redis';
import { DependencyUnavailableError } from '@platform/service-kit';
import type { FastifyRequest } from 'fastify';

/** The key this request holds until its answer is stored or dropped. */
export interface Held {
  scope: string;
  key: string;
  token: string;
  /**
   * Aborts once the record may be gone: it ran out unextended (Redis did not answer for a whole
   * lock TTL) or another request holds it now. Its reason is a 503 DependencyUnavailableError.
   */
  signal: AbortSignal;
  /** Local time by which the record has surely run out unless extended again. */
  expiresAt: () => number;
  /** Stops the heartbeat; idempotent. */
  stop: () => void;
}

/**
 * Extends the request's in-flight record every lockTtl/3 while it runs, so a slow handler
 * keeps its key while a crashed process still frees it within one TTL. A Redis hiccup is
 * retried while the record may still live. Once it is surely gone, or no longer ours (it ran
 * out and a retry took it), the signal aborts: the handler must not charge, refund or write
 * after that, since a retry may be running the same request. The timers never keep the process
 * up (unref) and every running heartbeat is in `running`, so the app's close stops them all.
 */
export function heartbeat(
  store: IdempotencyStore,
  request: FastifyRequest,
  hold: Pick<Held, 'scope' | 'key' | 'token'>,
  begunAt: number,
  limits: { running: Set<() => void>; maxHoldMs: number },
): Held {
  const { running } = limits;
  const every = Math.max(1, Math.floor(store.lockTtlMs / 3));
  const lost = new AbortController();
  let expiresAt = begunAt + store.lockTtlMs;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let expiry: NodeJS.Timeout | undefined;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(expiry);
    running.delete(stop);
  };
  const schedule = (ms: number) => {
    timer = setTimeout(tick, ms).unref();
  };
  const lose = (why: string, err?: unknown) => {
    if (lost.signal.aborted) return;
    request.log.warn({ err }, `idempotency record ${why}; the request stops before any further side effect`);
    lost.abort(new DependencyUnavailableError('redis', { cause: err ?? new Error(`idempotency record ${why}`) }));
  };
  /** Fires when the record has surely run out; a successful extend moves it. */
  const armExpiry = () => {
    clearTimeout(expiry);
    expiry = setTimeout(() => {
      lose('ran out unextended');
      stop();
    }, Math.max(0, expiresAt - Date.now())).unref();
  };
  async function tick() {
    const started = Date.now();
    if (started - begunAt >= limits.maxHoldMs) {
      request.log.warn({ maxHoldMs: limits.maxHoldMs }, 'idempotency key held too long; it frees itself within one lock TTL');
      clearTimeout(timer);
      running.delete(stop);
      return; // the expiry timer still aborts the signal when the record runs out
    }
    try {
      const ours = await store.extend(hold.scope, hold.key, hold.token);
      if (stopped) return;
      if (!ours) {
        lose('is held by another request');
        return stop();
      }
      expiresAt = started + store.lockTtlMs;
      armExpiry();
      schedule(every);
    } catch (err) {
      if (stopped) return;
      const left = expiresAt - Date.now();
      if (left <= 0) {
        lose('ran out unextended', err);
        return stop();
      }
      schedule(Math.max(10, Math.min(every, left / 2)));
    }
  }
  running.add(stop);
  armExpiry();
  schedule(every);
  return { ...hold, signal: lost.signal, expiresAt: () => expiresAt, stop };
}
