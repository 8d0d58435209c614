import type { LoggerOptions } from 'pino';

/**
 * Paths that must never reach a log line. pino's `*` matches one level, so the
 * common nestings (request bodies, nested payment methods) are spelled out.
 */
const SECRET_KEYS = [
  'password',
  'currentPassword',
  'newPassword',
  'accessToken',
  'refreshToken',
  'token',
  'secret',
  'privateKey',
  'card',
  'cardNumber',
  'cvc',
  'cvv',
  'paymentMethod',
];

export const REDACT_PATHS = Object.freeze([
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-platform-peer"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-platform-peer"]',
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
]);

export function loggerOptions(opts: { service: string; level: string }): LoggerOptions {
  return {
    level: opts.level,
    base: { service: opts.service },
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    redact: { paths: [...REDACT_PATHS], censor: '[REDACTED]' },
    formatters: { level: (label) => ({ level: label }) },
  };
}
