import type { App } from '@platform/service-kit';
import { buildApp } from '@platform/testing';
import type { LightMyRequestResponse } from 'fastify';
import { randomUUID } from 'node:crypto';
import { definition } from '../src/app';
import type { ChargeView, RefundView } from '../src/schemas';

/** The real gateway-sandbox app. */
export function build(env: Record<string, string> = {}): Promise<App> {
  return buildApp(definition, env);
}

export type Charge = ChargeView;
export type Refund = RefundView;

/** A fresh idempotency key, so each test makes its own data. */
export const newKey = () => `key-${randomUUID()}`;

/** A valid charge body for a new order; `over` replaces or adds members. */
export const chargeBody = (over: Record<string, unknown> = {}) => ({ amount: 1999, currency: 'EUR', token: 'tok_visa', orderId: randomUUID(), ...over });

export function post(app: App, url: '/v1/charges' | '/v1/refunds' | '/v1/charges/cancel', payload: object, key: string | null = newKey()): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url, payload, headers: key === null ? {} : { 'idempotency-key': key } });
}

export const get = (app: App, url: string) => app.inject({ method: 'GET', url });

/** The charges the provider holds for an order, oldest first. */
export async function chargesOf(app: App, orderId: string): Promise<Charge[]> {
  const res = await get(app, `/v1/charges?orderId=${orderId}`);
  expect(res.statusCode).toBe(200);
  return res.json<{ data: Charge[] }>().data;
}

/** A succeeded charge, for tests about what comes after it. */
export async function succeededCharge(app: App, amount = 1000): Promise<Charge> {
  const res = await post(app, '/v1/charges', chargeBody({ amount }));
  expect(res.statusCode).toBe(201);
  return res.json<Charge>();
}

export const problem = (res: LightMyRequestResponse) => res.json<{ status: number; code: string; requestId: string; errors?: { path: string }[] } & Record<string, unknown>>();

/** The body without its requestId, which belongs to the request that carried it. */
export function withoutRequestId(res: LightMyRequestResponse): Record<string, unknown> {
  const { requestId: _requestId, ...rest } = res.json<Record<string, unknown>>();
  return rest;
}
