import type { App } from '@platform/service-kit';
import { describeServiceConformance } from '@platform/testing';
import { build } from './helper';

let app: App;
beforeAll(async () => {
  app = await build();
});
afterAll(() => app.close());

describeServiceConformance({ service: 'payment-service', checks: ['mysql', 'redis'], app: () => app });

describe('payment-service OpenAPI', () => {
  it('when /docs/json is read, then it lists the four payment routes with bearer security and their answers', async () => {
    const doc = (await app.inject({ url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
    };
    const ops = {
      'post /v1/payments': ['201', '400', '402', '404', '409', '422', '502'],
      'get /v1/payments': ['200', '400'],
      'get /v1/payments/{id}': ['200', '404'],
      'post /v1/payments/{id}/refunds': ['201', '404', '409', '422', '502'],
    };
    for (const [op, statuses] of Object.entries(ops)) {
      const [method, path] = op.split(' ') as [string, string];
      const operation = doc.paths[path]?.[method];
      expect([op, operation?.security]).toEqual([op, [{ bearerAuth: [] }]]);
      expect([op, Object.keys(operation?.responses ?? {})]).toEqual([op, expect.arrayContaining(statuses)]);
    }
  });

  it('when /docs/json is read, then both POSTs require Idempotency-Key, their 402/409 codes are exact, and a refund’s body is optional', async () => {
    const doc = (await app.inject({ url: '/docs/json' })).json();
    const pay = doc.paths['/v1/payments'].post;
    const refund = doc.paths['/v1/payments/{id}/refunds'].post;
    for (const post of [pay, refund]) expect(post.parameters).toContainEqual({ $ref: '#/components/parameters/RequiredIdempotencyKey' });
    const codes = (response: { content: Record<string, { schema: { allOf: { properties?: { code?: { enum: string[] } } }[] } }> }) =>
      response.content['application/problem+json']?.schema.allOf[1]?.properties?.code?.enum;
    expect(codes(pay.responses['402'])).toEqual(['CARD_DECLINED', 'INSUFFICIENT_FUNDS']);
    expect(codes(pay.responses['400'])).toContain('IDEMPOTENCY_KEY_MISSING');
    expect(codes(refund.responses['409'])).toEqual(['IDEMPOTENCY_REQUEST_IN_PROGRESS', 'PAYMENT_NOT_REFUNDABLE', 'REFUND_EXCEEDS_PAYMENT']);
    expect(Object.keys(pay.responses['201'].headers)).toEqual(expect.arrayContaining(['Location', 'Idempotent-Replayed']));
    expect(pay.requestBody.required).toBe(true);
    expect(refund.requestBody.required).toBe(false);
  });
});
