/**
 * What the two reference apps share: the order's wire shapes (the same request bodies and answers
 * as order-service, so the same load can be sent to both), user-service's public key from its
 * JWKS, and their settings from the environment.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { CURRENCY_CODES } from '@platform/contracts';

/** POST /v1/orders' body, with order-service's limits (apps/order-service/src/schemas.ts). */
export const CREATE_ORDER_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['currency', 'items'],
  properties: {
    currency: { type: 'string', enum: CURRENCY_CODES },
    items: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['sku', 'name', 'unitPrice', 'quantity'],
        properties: {
          sku: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' },
          name: { type: 'string', minLength: 1, maxLength: 200 },
          unitPrice: { type: 'integer', minimum: 1, maximum: 100_000_000 },
          quantity: { type: 'integer', minimum: 1, maximum: 1_000 },
        },
      },
    },
  },
} as const;

export interface CreateOrderBody {
  currency: string;
  items: { sku: string; name: string; unitPrice: number; quantity: number }[];
}

export const ORDER_ID_PARAMS = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 64 } } } as const;

/** The order as order-service answers it (libs/contracts OrderView). */
export interface OrderView {
  id: string;
  userId: string;
  status: 'PENDING' | 'PAID' | 'CANCELLED' | 'REFUNDED';
  currency: string;
  totalAmount: number;
  items: { sku: string; name: string; unitPrice: number; quantity: number; lineTotal: number }[];
  createdAt: string;
  updatedAt: string;
}

/** The problem body of a 404, as the platform's (code NOT_FOUND). */
export const notFound = (id: string) => ({ type: 'about:blank', title: 'Not Found', status: 404, code: 'NOT_FOUND', detail: `order ${id} not found` });

export function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

/** Where the settings are read from: PORT, DATABASE_URL, REDIS_URL, JWKS_URL, … */
export function settings() {
  return {
    port: Number(required('PORT')),
    databaseUrl: required('DATABASE_URL'),
    redisUrl: required('REDIS_URL'),
    jwksUrl: required('JWKS_URL'),
    issuer: process.env['JWT_ISSUER'] ?? 'user-service',
    audience: process.env['JWT_AUDIENCE'] ?? 'order-platform',
    /** Redis key prefix, so that runs side by side do not meet. */
    prefix: process.env['REFERENCE_KEY_PREFIX'] ?? 'ref:',
  };
}

/**
 * The PEM of user-service's signing key, fetched once at start from its JWKS (the first Ed25519
 * key: user-service publishes one unless it is rotating, which a bench does not do).
 */
export async function signingKeyPem(jwksUrl: string): Promise<string> {
  const res = await fetch(jwksUrl);
  if (res.status !== 200) throw new Error(`${jwksUrl} answered ${res.status}`);
  const { keys } = (await res.json()) as { keys: (JsonWebKey & { kid?: string })[] };
  const jwk = keys.find((k) => k.kty === 'OKP' && k.crv === 'Ed25519');
  if (!jwk) throw new Error(`${jwksUrl} holds no Ed25519 key`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
}

/** Closes on SIGTERM/SIGINT, then exits 0; exits 1 when the start fails. */
export function runUntilSignalled(start: () => Promise<void>, close: () => Promise<void>): void {
  const stop = () => void close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  start().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
