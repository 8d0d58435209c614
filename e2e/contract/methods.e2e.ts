import { randomBytes, randomUUID } from 'node:crypto';
import { topologyFromEnv } from '../src/platform';

/**
 * CONTRACT.md, "Common rules": a known path called with a method it does not serve answers 405
 * problem+json with `Allow`; a path no route serves stays 404. Over HTTP on every process.
 * The services list OPTIONS too when they run with CORS (E2E_BROWSER_ORIGIN names the origin
 * they allow); the sandbox never does.
 */
const topology = topologyFromEnv();
const cors = Boolean(process.env['E2E_BROWSER_ORIGIN']);
const options = cors ? ', OPTIONS' : '';
const id = randomUUID();

const CASES: { label: string; urls: string[]; method: string; path: string; allow: string }[] = [
  { label: 'order DELETE /v1/orders/{id}', urls: topology.order, method: 'DELETE', path: `/v1/orders/${id}`, allow: `GET, HEAD${options}` },
  { label: 'order PUT /v1/orders', urls: topology.order, method: 'PUT', path: '/v1/orders?limit=5', allow: `GET, HEAD, POST${options}` },
  { label: 'order GET /v1/orders/{id}/cancel', urls: topology.order, method: 'GET', path: `/v1/orders/${id}/cancel`, allow: `POST${options}` },
  { label: 'user GET /v1/auth/login', urls: topology.user, method: 'GET', path: '/v1/auth/login', allow: `POST${options}` },
  { label: 'user DELETE /v1/users/me', urls: topology.user, method: 'DELETE', path: '/v1/users/me', allow: `GET, HEAD, PATCH${options}` },
  { label: 'payment PATCH /v1/payments/{id}', urls: topology.payment, method: 'PATCH', path: `/v1/payments/${id}`, allow: `GET, HEAD${options}` },
  { label: 'sandbox PATCH /v1/charges', urls: [topology.sandbox], method: 'PATCH', path: '/v1/charges', allow: 'GET, HEAD, POST' },
  { label: 'user POST /health/ready', urls: topology.user, method: 'POST', path: '/health/ready', allow: `GET, HEAD${options}` },
];

/** Each case on each instance. */
const ON_EACH = CASES.flatMap((c) => c.urls.map((url, i) => ({ ...c, label: c.urls.length > 1 ? `${c.label} #${i + 1}` : c.label, url })));
/** A simulated client of its own per request (as e2e/src/client.ts names them), so per-address limits are not this file's to share. */
const headers = () => ({ 'x-forwarded-for': `10.${[...randomBytes(3)].join('.')}`, 'x-request-id': `e2e-405-${randomUUID()}` });

describe('a known path and a method it does not serve', () => {
  it.each(ON_EACH)('when $label, then 405 METHOD_NOT_ALLOWED problem+json with Allow: $allow', async ({ url, method, path, allow }) => {
    const sent = headers();
    const res = await fetch(`${url}${path}`, { method, headers: sent });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe(allow);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({ status: 405, code: 'METHOD_NOT_ALLOWED', title: 'Method Not Allowed', requestId: sent['x-request-id'] });
  });

  it('when HEAD is sent to a path that serves only POST, then 405 with Allow and no body', async () => {
    const res = await fetch(`${topology.user[0]}/v1/auth/register`, { method: 'HEAD', headers: headers() });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe(`POST${options}`);
    expect(await res.text()).toBe('');
  });

  it.each([
    ['DELETE', '/v1/orders/x/y/z'],
    ['GET', '/v1/order'],
    ['PUT', '/v2/orders'],
  ])('when %s %s names no known path, then 404 NOT_FOUND without Allow', async (method, path) => {
    const res = await fetch(`${topology.order[0]}${path}`, { method, headers: headers() });
    expect(res.status).toBe(404);
    expect(res.headers.get('allow')).toBeNull();
    expect(await res.json()).toMatchObject({ code: 'NOT_FOUND' });
  });
});
