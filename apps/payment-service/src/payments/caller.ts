import { createHash } from 'node:crypto';

/** Who asks, under which key, for the answers a route gives. */
export interface Caller {
  userId: string;
  key: string;
  requestId: string;
}

export interface Answered<T> {
  value: T;
  /** The answer comes from MySQL's record of an earlier request with this key (its Redis record was gone). */
  replayed: boolean;
}

/** The hash stored with a payment or refund, to tell a retry of its request from a reused key. */
export const requestHash = (value: unknown): Buffer => createHash('sha256').update(JSON.stringify(value)).digest();
