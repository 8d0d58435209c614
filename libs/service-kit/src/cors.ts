import fastifyCors from '@fastify/cors';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Browsers on other origins (a web shop's front end) calling the API straight: CORS, with
 * @fastify/cors, only for the origins CORS_ALLOWED_ORIGINS names (CONTRACT.md, "Common rules").
 * Unset, the plugin is not registered and no answer carries a CORS header.
 */

const ORIGIN = '(https?://([^\\s/,:@\\[\\]]+|\\[[0-9A-Fa-f:.]+\\])(:\\d{1,5})?)';

export const corsEnv = () => ({
  /** Comma-separated origins (`https://shop.example.com`), or `*`. Empty is the same as unset. */
  CORS_ALLOWED_ORIGINS: Type.Optional(
    Type.String({
      pattern: `^(|\\*|${ORIGIN}(\\s*,\\s*${ORIGIN})*)$`,
      description: 'comma-separated origins, each scheme://host[:port] (http or https, no path, no trailing slash), or *',
    }),
  ),
});

/**
 * CORS_ALLOWED_ORIGINS as the origins browsers send (`new URL().origin`: host lower-cased,
 * a default port dropped), `'*'`, or undefined for no cross-origin access.
 */
export function allowedOrigins(value: string | undefined): readonly string[] | '*' | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  if (trimmed === '*') return '*';
  return Object.freeze([...new Set(trimmed.split(',').map((o) => new URL(o.trim()).origin))]);
}

/** What the API's routes use; a route with another method makes start-up fail while CORS is on. */
export const CORS_METHODS = Object.freeze(['GET', 'HEAD', 'POST', 'PATCH']);
/** The request headers of CONTRACT.md: a browser may send these cross-origin. */
export const CORS_REQUEST_HEADERS = Object.freeze(['Authorization', 'Content-Type', 'Idempotency-Key', 'If-Match', 'If-None-Match', 'Last-Event-ID', 'x-request-id']);
/** The answer headers a page's script may read, beyond the CORS-safelisted ones. */
export const CORS_EXPOSED_HEADERS = Object.freeze(['x-request-id', 'Location', 'ETag', 'RateLimit', 'RateLimit-Policy', 'Retry-After', 'Idempotent-Replayed']);
/** How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours). */
export const CORS_MAX_AGE_SECONDS = 600;

export interface CorsOptions {
  /** CORS_ALLOWED_ORIGINS; unset or empty registers nothing. */
  allowedOrigins?: string;
}

/**
 * Registered before the request pipeline, so its onRequest hook runs first: a preflight is
 * answered (204) before a token, a rate-limit step or an idempotency key is looked for, and
 * every other answer to an allowed origin, errors included, carries the CORS headers.
 */
async function corsPlugin(app: FastifyInstance, opts: CorsOptions): Promise<void> {
  const origins = allowedOrigins(opts.allowedOrigins);
  if (origins === undefined) return;
  const methods = new Set(CORS_METHODS);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method !== 'OPTIONS' && !methods.has(method)) throw new RangeError(`route ${method} ${route.url} uses a method CORS does not allow (cors.ts CORS_METHODS)`);
    }
  });
  await app.register(fastifyCors, {
    // `false` for a request from any other origin (or none): no CORS header at all, preflight
    // included. @fastify/cors would otherwise still write the Allow-Methods and Expose fields.
    origin: (origin: string | undefined, callback: (error: Error | null, allow: boolean | string) => void) =>
      callback(null, origin === undefined ? false : origins === '*' ? '*' : origins.includes(origin)),
    methods: [...CORS_METHODS],
    allowedHeaders: [...CORS_REQUEST_HEADERS],
    exposedHeaders: [...CORS_EXPOSED_HEADERS],
    maxAge: CORS_MAX_AGE_SECONDS,
    // Bearer tokens, no cookies: a browser sends no credentials, so `*` may stay `*`.
    credentials: false,
    // An OPTIONS without Access-Control-Request-Method from an allowed origin is a preflight too,
    // not the plugin's text/plain 400.
    strictPreflight: false,
  });
}

export const cors = fp(corsPlugin, { name: 'cors', fastify: '5.x' });
