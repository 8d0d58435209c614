import { createPlatformClient, createSandboxClient } from './platform-client';

/** A fetch that answers 200 `{}` and keeps the requests openapi-fetch built. */
function recordingFetch() {
  const sent: Request[] = [];
  const fetch = async (request: Request) => {
    sent.push(request);
    return new Response('{"ok":true}', { status: 200, headers: { 'content-type': 'application/json' } });
  };
  return { sent, fetch };
}

const FIRST_PAGE = { params: { query: { limit: 20 } } };
const URLS = { userUrl: 'http://users.test', orderUrl: 'http://orders.test:3002', paymentUrl: 'http://payments.test/api' };

describe('createPlatformClient', () => {
  it('when a service is called, then the request goes to its base URL with the path, query and JSON body', async () => {
    const { sent, fetch } = recordingFetch();
    const api = createPlatformClient({ ...URLS, fetch });

    await api.user.POST('/v1/auth/login', { body: { email: 'ada@example.com', password: 'correct horse' } });
    await api.order.GET('/v1/orders/{id}', { params: { path: { id: 'abc' } } });
    await api.payment.GET('/v1/payments', { params: { query: { orderId: 'abc' } } });

    expect(sent.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST http://users.test/v1/auth/login',
      'GET http://orders.test:3002/v1/orders/abc',
      'GET http://payments.test/api/v1/payments?orderId=abc',
    ]);
    expect(await sent[0]?.json()).toEqual({ email: 'ada@example.com', password: 'correct horse' });
  });

  it('when a token is given, then every service receives it as a Bearer token', async () => {
    const { sent, fetch } = recordingFetch();
    const api = createPlatformClient({ ...URLS, fetch, token: 'tkn' });

    await api.order.GET('/v1/orders', FIRST_PAGE);
    await api.payment.GET('/v1/payments', { params: { query: { orderId: 'abc' } } });
    await api.user.GET('/v1/users/me');

    expect(sent.map((r) => r.headers.get('authorization'))).toEqual(['Bearer tkn', 'Bearer tkn', 'Bearer tkn']);
  });

  it('when the token is a function, then it is asked at each request, and no header is sent while it has none', async () => {
    const { sent, fetch } = recordingFetch();
    let token: string | undefined = undefined;
    const api = createPlatformClient({ ...URLS, fetch, token: () => token });

    await api.order.GET('/v1/orders', FIRST_PAGE);
    token = 'later';
    await api.order.GET('/v1/orders', FIRST_PAGE);

    expect(sent.map((r) => r.headers.get('authorization'))).toEqual([null, 'Bearer later']);
  });

  it('when a call sets its own Authorization, then it is sent instead of the token', async () => {
    const { sent, fetch } = recordingFetch();
    const api = createPlatformClient({ ...URLS, fetch, token: 'tkn' });

    await api.order.GET('/v1/orders', { ...FIRST_PAGE, headers: { authorization: 'Bearer other' } });

    expect(sent[0]?.headers.get('authorization')).toBe('Bearer other');
  });

  it('when an answer arrives, then data holds a success body and error an error body', async () => {
    const api = createPlatformClient({
      ...URLS,
      fetch: async (request) =>
        request.url.endsWith('/missing')
          ? new Response('{"code":"NOT_FOUND"}', { status: 404, headers: { 'content-type': 'application/problem+json' } })
          : new Response('{"data":[]}', { status: 200, headers: { 'content-type': 'application/json' } }),
    });

    const found = await api.order.GET('/v1/orders', FIRST_PAGE);
    const missing = await api.order.GET('/v1/orders/{id}', { params: { path: { id: 'missing' } } });

    expect([found.data, found.error, found.response.status]).toEqual([{ data: [] }, undefined, 200]);
    expect([missing.data, missing.error, missing.response.status]).toEqual([undefined, { code: 'NOT_FOUND' }, 404]);
  });
});

describe('createSandboxClient', () => {
  it("when the provider's charges are read, then the request goes to its URL", async () => {
    const { sent, fetch } = recordingFetch();
    await createSandboxClient({ url: 'http://sandbox.test', fetch }).GET('/v1/charges', { params: { query: { orderId: 'abc' } } });
    expect(sent.map((r) => r.url)).toEqual(['http://sandbox.test/v1/charges?orderId=abc']);
  });
});
