import { createHash } from 'node:crypto';

/** Who asks, under which key, for the answers a route gives. */
export interface Caller {
  userId: string;
  key: string;
  requestId: string;
  /**
   * Aborts once what guards the request may be gone (its Idempotency-Key record): from then on a
   * retry may run beside it, so it must not charge, refund or write. Absent for the event-driven
   * refunds, whose key is the event's and whose consumer owns the entry.
   */
  held?: AbortSignal;
}

/** Throws the signal's reason (a 503) once the caller may no longer act; called before each side effect. */
export function stillHeld(caller: Pick<Caller, 'held'>): void {
  caller.held?.throwIfAborted();
}

export interface Answered<T> {
  value: T;
  /** The answer comes from MySQL's record of an earlier request with this key (its Redis record was gone). */
  replayed: boolean;
}

/** The hash stored with a payment or refund, to tell a retry of its request from a reused key. */
export const requestHash = (value: unknown): Buffer => createHash('sha256').update(JSON.stringify(value)).digest();
