import { LockNotAcquiredError, type LockManager } from '@platform/redis';
import { OrderNotPayable } from './errors';

export interface OrderLockOptions {
  /** How long the lock lives unextended (its holder extends it while it works). */
  ttlMs: number;
  /** How long a request waits for another attempt on the same order. */
  waitMs: number;
}

/**
 * The per-order lock in Redis: one attempt at the provider per order at a time, so that
 * concurrent attempts get clean answers. Its fencing token goes into the payment row, so a
 * former holder whose lock ran out cannot overwrite what the next holder settled.
 */
export function orderLocks(locks: LockManager, opts: OrderLockOptions) {
  const key = (orderId: string) => `payment-order:${orderId}`;
  return Object.freeze({
    /**
     * Runs `fn` holding the order's lock, waiting for it up to `waitMs`; OrderNotPayable (retry soon)
     * if it stays taken. `stillLocked()` throws the same once the lock may be lost (Redis did not let
     * it be extended): another attempt may hold it then, so `fn` calls it before each side effect.
     */
    async hold<T>(orderId: string, fn: (fence: number, stillLocked: () => void) => Promise<T>): Promise<T> {
      try {
        return await locks.withLock(
          key(orderId),
          ({ fence, signal }) =>
            fn(fence, () => {
              if (signal.aborted) throw new OrderNotPayable('Another payment for this order is in progress.', 1);
            }),
          { ttlMs: opts.ttlMs, waitMs: opts.waitMs },
        );
      } catch (err) {
        if (err instanceof LockNotAcquiredError) {
          throw new OrderNotPayable('Another payment for this order is in progress.', Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000)));
        }
        throw err;
      }
    },

    /** Runs `fn` if the order's lock is free now; `held: false` when another holds it. */
    async tryHold(orderId: string, fn: (fence: number) => Promise<void>): Promise<{ held: boolean }> {
      try {
        await locks.withLock(key(orderId), ({ fence }) => fn(fence), { ttlMs: opts.ttlMs, waitMs: 0 });
        return { held: true };
      } catch (err) {
        if (err instanceof LockNotAcquiredError) return { held: false };
        throw err;
      }
    },
  });
}

export type OrderLocks = ReturnType<typeof orderLocks>;
