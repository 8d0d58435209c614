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
  it('when /docs/json is read, then the charge and refund routes are there with their Idempotency-Key header', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/charges', '/v1/charges/{id}', '/v1/refunds']));
    for (const path of ['/v1/charges', '/v1/refunds']) {
      expect(doc.paths[path].post.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ in: 'header', name: 'idempotency-key' })]));
      expect(Object.keys(doc.paths[path].post.responses)).toEqual(expect.arrayContaining(['201', '400', '422', '500']));
    }
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
