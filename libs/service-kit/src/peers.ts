import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Agent, request as send, type Dispatcher } from 'undici';
import { REQUEST_ID_HEADER } from './request-id';

declare module 'fastify' {
  interface FastifyInstance {
    /** Keep-alive connections to the other services, bounded by PEER_CONNECT_TIMEOUT_MS and PEER_TIMEOUT_MS. */
    peers: Dispatcher;
  }
}

/** How long each wait of an HTTP call may last. */
export interface HttpTimeouts {
  /** Opening a connection. */
  connectTimeoutMs: number;
  /** Waiting for the response headers, and then for each piece of the body. */
  timeoutMs: number;
}

/**
 * An HTTP client (undici's Agent): keep-alive connections per origin, reused from call to call,
 * and a bound on each wait, so that a refused, silent or frozen server fails the call instead
 * of holding it. undici destroys a connection whose call timed out; it is never reused. Timeouts
 * above 1 s (and every connect timeout) run on undici's coarse clock: about half a second late
 * or early.
 */
export function httpAgent(timeouts: HttpTimeouts): Agent {
  return new Agent({ connectTimeout: timeouts.connectTimeoutMs, headersTimeout: timeouts.timeoutMs, bodyTimeout: timeouts.timeoutMs });
}

/** What `peerTimeoutEnv()` reads. */
export interface PeerTimeoutEnv {
  PEER_CONNECT_TIMEOUT_MS: number;
  PEER_TIMEOUT_MS: number;
}
/** The `peers` plugin's options from the service's configuration. */
export const peerOptions = (config: PeerTimeoutEnv): HttpTimeouts => ({ connectTimeoutMs: config.PEER_CONNECT_TIMEOUT_MS, timeoutMs: config.PEER_TIMEOUT_MS });

/** `app.peers`: the service's one agent for its calls to other services, closed with the app. */
async function peersPlugin(app: FastifyInstance, timeouts: HttpTimeouts): Promise<void> {
  const agent = httpAgent(timeouts);
  app.decorate<Dispatcher>('peers', agent);
  // Waits for calls in flight, which their timeouts bound.
  app.addHook('onClose', async () => {
    await agent.close();
  });
}

export const peers = fp(peersPlugin, { name: 'peers', fastify: '5.x' });

export interface PeerRequestOptions {
  method?: Dispatcher.HttpMethod;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * Calls another service on behalf of `request` through `peers` (`app.peers`): the request id
 * travels with the call, so one id follows a client's request through every service's logs.
 * The caller reads or dumps the answer's body, which frees the connection for the next call.
 * A peer that refuses, resets or does not answer in time rejects with undici's error.
 */
export function peerRequest(
  request: FastifyRequest,
  peers: Dispatcher,
  url: string | URL,
  opts: PeerRequestOptions = {},
): Promise<Dispatcher.ResponseData> {
  const headers = Object.fromEntries(Object.entries(opts.headers ?? {}).filter(([name]) => name.toLowerCase() !== REQUEST_ID_HEADER));
  headers[REQUEST_ID_HEADER] = request.id;
  return send(url, { dispatcher: peers, method: opts.method ?? 'GET', headers, body: opts.body });
}
