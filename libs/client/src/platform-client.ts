import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths as OrderPaths } from './generated/order';
import type { paths as PaymentPaths } from './generated/payment';
import type { paths as SandboxPaths } from './generated/sandbox';
import type { paths as UserPaths } from './generated/user';

export type { OrderPaths, PaymentPaths, SandboxPaths, UserPaths };

/** What a call hands to `fetch`: openapi-fetch builds the Request, the caller's fetch sends it. */
export type Fetch = (request: Request) => Promise<Response>;

/** An access token, or a function asked before every request (e.g. to read a refreshed one). */
export type TokenSource = string | (() => string | undefined);

export interface PlatformClientOptions {
  /** Base URLs of the services, e.g. `http://127.0.0.1:3001`. */
  userUrl: string;
  orderUrl: string;
  paymentUrl: string;
  /** Sent as `Authorization: Bearer <token>` unless a call sets its own Authorization header. */
  token?: TokenSource;
  /** Default: the global fetch. */
  fetch?: Fetch;
}

export interface PlatformClient {
  user: Client<UserPaths>;
  order: Client<OrderPaths>;
  payment: Client<PaymentPaths>;
}

/** openapi-fetch middleware that signs each request with the token, when there is one. */
export function bearerToken(token: TokenSource): Middleware {
  return {
    onRequest({ request }) {
      const value = typeof token === 'function' ? token() : token;
      if (value && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${value}`);
      return request;
    },
  };
}

function serviceClient<Paths extends object>(baseUrl: string, opts: { token?: TokenSource; fetch?: Fetch }): Client<Paths> {
  const client = createClient<Paths>({ baseUrl, ...(opts.fetch && { fetch: opts.fetch }) });
  if (opts.token !== undefined) client.use(bearerToken(opts.token));
  return client;
}

/**
 * Typed clients of the three services (openapi-fetch over the types generated from their
 * OpenAPI documents): `api.order.POST('/v1/orders', { body })` answers `{ data, error, response }`,
 * `data` typed by the success responses, `error` by the others.
 */
export function createPlatformClient(opts: PlatformClientOptions): PlatformClient {
  return {
    user: serviceClient<UserPaths>(opts.userUrl, opts),
    order: serviceClient<OrderPaths>(opts.orderUrl, opts),
    payment: serviceClient<PaymentPaths>(opts.paymentUrl, opts),
  };
}

/** The sandbox payment provider (development and tests only): its charges show where money moved. */
export function createSandboxClient(opts: { url: string; fetch?: Fetch }): Client<SandboxPaths> {
  return serviceClient<SandboxPaths>(opts.url, opts);
}
