import type { FastifyRequest } from 'fastify';
import { REQUEST_ID_HEADER } from './request-id';

export interface PeerRequestInit extends RequestInit {
  /** Aborts the call after this many milliseconds (default 5 s). */
  timeoutMs?: number;
}

/**
 * Calls another service on behalf of `request`: the request id travels with the
 * call so one id follows a client's request through every service's logs.
 */
export function peerFetch(request: FastifyRequest, url: string | URL, init: PeerRequestInit = {}): Promise<Response> {
  const { timeoutMs = 5_000, headers, ...rest } = init;
  const merged = new Headers(headers);
  merged.set(REQUEST_ID_HEADER, request.id);
  return fetch(url, { ...rest, headers: merged, signal: rest.signal ?? AbortSignal.timeout(timeoutMs) });
}
