import type { App } from '@platform/service-kit';
import { describeServiceConformance } from '@platform/testing';
import { build, chargeBody, newKey, post } from './helper';

let app: App;
beforeAll(async () => {
  app = await build();
});
afterAll(() => app.close());

describeServiceConformance({ service: 'gateway-sandbox', checks: [], app: () => app });

describe('gateway-sandbox documentation and metrics', () => {
  it('when /docs/json is read, then the charge and refund routes are there with their required Idempotency-Key header, and nothing asks for a token', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/charges', '/v1/charges/{id}', '/v1/refunds']));
    expect(doc.components.parameters.RequiredIdempotencyKey).toMatchObject({ in: 'header', name: 'Idempotency-Key', required: true });
    for (const path of ['/v1/charges', '/v1/charges/cancel', '/v1/refunds']) {
      const parameters = doc.paths[path].post.parameters as { $ref?: string; name?: string }[];
      expect(parameters).toContainEqual({ $ref: '#/components/parameters/RequiredIdempotencyKey' });
      expect(parameters.filter((p) => p.name?.toLowerCase() === 'idempotency-key')).toEqual([]);
      expect(Object.keys(doc.paths[path].post.responses)).toEqual(expect.arrayContaining(['201', '400']));
      expect(Object.keys(doc.paths[path].post.responses['201'].headers)).toEqual(['x-request-id', 'Idempotent-Replayed']);
      // Written by the server itself, never a replay.
      expect(Object.keys(doc.paths[path].post.responses['408'].headers)).toEqual(['x-request-id']);
    }
    expect(Object.keys(doc.paths['/v1/charges'].post.responses)).toEqual(expect.arrayContaining(['402', '422', '500', '502']));
    // No authentication: no scheme, so Swagger UI shows no Authorize button; every operation says so.
    expect(doc.components.securitySchemes).toBeUndefined();
    for (const operations of Object.values(doc.paths) as Record<string, { security?: unknown }>[]) {
      for (const op of Object.values(operations)) expect(op.security).toEqual([]);
    }
    // Without readiness checks, /health/ready cannot answer 503.
    expect(Object.keys(doc.paths['/health/ready'].get.responses).sort()).toEqual(['200', '408', '431']);
  });

  it('when charges are made and replayed, then /metrics counts them by outcome and replays by operation', async () => {
    const key = newKey();
    const body = chargeBody({ token: 'tok_chargeDeclinedInsufficientFunds' });
    await post(app, '/v1/charges', body, key);
    await post(app, '/v1/charges', body, key);
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/gateway_sandbox_requests_total\{operation="charge",outcome="insufficient_funds"[^}]*\} 1\n/);
    expect(text).toMatch(/gateway_sandbox_idempotent_replays_total\{operation="charge"[^}]*\} 1\n/);
  });
});
