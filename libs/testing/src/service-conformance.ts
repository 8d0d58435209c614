import type { App } from '@platform/service-kit';

export interface ConformanceOptions {
  service: string;
  /** The readiness checks the service must report, e.g. ['mysql', 'redis']. */
  checks: string[];
  app: () => App;
}

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * What CONTRACT.md promises of every service regardless of its domain: health,
 * metrics, docs, request ids and problem+json answers. Each service's test suite
 * runs it against its own real app.
 */
export function describeServiceConformance(opts: ConformanceOptions): void {
  const app = () => opts.app();

  describe(`${opts.service} conformance`, () => {
    it('when the process runs, then /health/live is 200 ok', async () => {
      const res = await app().inject({ method: 'GET', url: '/health/live' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: 'ok' });
    });

    it('when its dependencies answer, then /health/ready is 200 and names each check', async () => {
      const res = await app().inject({ method: 'GET', url: '/health/ready' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        status: 'ok',
        checks: Object.fromEntries(opts.checks.map((c) => [c, 'ok'])),
      });
    });

    it('when a route does not exist, then 404 problem+json carries the request id', async () => {
      const res = await app().inject({ method: 'GET', url: '/v1/nothing-here', headers: { 'x-request-id': 'conf-404' } });
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['x-request-id']).toBe('conf-404');
      expect(res.json()).toMatchObject({ status: 404, code: 'NOT_FOUND', requestId: 'conf-404', title: 'Not Found' });
    });

    it('when a POST carries malformed JSON, then 400 MALFORMED_JSON', async () => {
      const res = await app().inject({
        method: 'POST',
        url: '/v1/anything',
        headers: { 'content-type': 'application/json' },
        payload: '{"a":',
      });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 400, code: 'MALFORMED_JSON' });
    });

    it.each(['utf-16', 'UTF-16LE', 'iso-8859-1', '"utf-16"'])(
      'when a JSON body names charset=%s, then 415 UNSUPPORTED_MEDIA_TYPE',
      async (charset) => {
        const res = await app().inject({
          method: 'POST',
          url: '/v1/anything',
          headers: { 'content-type': `application/json; charset=${charset}` },
          payload: '{"a":1}',
        });
        expect(res.statusCode).toBe(415);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.json()).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
      },
    );

    it('when no usable x-request-id is sent, then a UUIDv7 is made and returned', async () => {
      const res = await app().inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'bad id!' } });
      expect(res.headers['x-request-id']).toMatch(V7);
    });

    it('when /docs/json is read, then it is the OpenAPI 3 document of this service', async () => {
      const res = await app().inject({ method: 'GET', url: '/docs/json' });
      expect(res.statusCode).toBe(200);
      const doc = res.json();
      expect(doc.openapi).toMatch(/^3\./);
      expect(doc.info.title).toBe(opts.service);
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/health/live', '/health/ready']));
      const ui = await app().inject({ method: 'GET', url: '/docs/' });
      expect(ui.statusCode).toBe(200);
      expect(ui.headers['content-type']).toMatch(/text\/html/);
    });

    it('when /metrics is scraped, then request durations are there by route and status', async () => {
      await app().inject({ method: 'GET', url: '/health/live' });
      const res = await app().inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.body).toMatch(
        new RegExp(`http_request_duration_seconds_count\\{service="${opts.service}",method="GET",route="/health/live",status_code="200"\\} \\d+`),
      );
    });
  });
}
