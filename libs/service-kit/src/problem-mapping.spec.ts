import type { LightMyRequestResponse } from 'fastify';
import { buildTestApp, PROBLEM_KEYS } from '../test/test-app';
import { DomainError } from './domain-error';
import { problemHandler } from './error-handler';
import { problemMapping, type ProblemTable } from './problem';
import type { App } from './server';

/** A service's union of domain errors, as a service declares it: no status, no code. */
abstract class ShopError extends DomainError {}
class SoldOut extends ShopError {
  readonly kind = 'SoldOut';
  constructor(readonly sku: string) {
    super(`${sku} is sold out.`);
  }
}
class ShopClosed extends ShopError {
  readonly kind = 'ShopClosed';
  constructor(readonly opensInSeconds: number) {
    super('The shop is closed.');
  }
}
type Shop = SoldOut | ShopClosed;

const table: ProblemTable<Shop> = {
  SoldOut: (e) => ({ status: 409, code: 'SOLD_OUT', detail: e.message, extensions: { sku: e.sku } }),
  ShopClosed: (e) => ({ status: 503, code: 'SHOP_CLOSED', detail: e.message, headers: { 'retry-after': String(e.opensInSeconds) } }),
};
const shopProblems = problemMapping((e): e is Shop => e instanceof ShopError, table);

function routes(app: App): void {
  // The service's routes, in a plugin of their own that answers the service's errors by its table.
  void app.register(async (shop) => {
    shop.setErrorHandler(problemHandler(shopProblems));
    shop.get('/sold-out', async () => {
      throw new SoldOut('SKU-1');
    });
    shop.get('/closed', async () => {
      throw new ShopClosed(30);
    });
    shop.get('/bug', async () => {
      throw new Error('not a shop error');
    });
  });
  // A route outside that plugin: the table does not reach it.
  app.get('/elsewhere', async () => {
    throw new SoldOut('SKU-2');
  });
}

function problemOf(res: LightMyRequestResponse): Record<string, unknown> {
  expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  return res.json();
}

describe("a service's own errors as problem+json", () => {
  let app: App;
  beforeAll(async () => {
    app = await buildTestApp({ routes });
  });
  afterAll(() => app.close());

  it('when a route throws a domain error, then its table entry gives the status, code, detail and extension members', async () => {
    const res = await app.inject({ url: '/sold-out' });
    expect(res.statusCode).toBe(409);
    const body = problemOf(res);
    expect(body).toEqual({
      type: 'urn:problem-type:sold-out',
      title: 'Conflict',
      status: 409,
      detail: 'SKU-1 is sold out.',
      code: 'SOLD_OUT',
      requestId: res.headers['x-request-id'],
      sku: 'SKU-1',
    });
  });

  it('when a table entry names headers, then they are sent', async () => {
    const res = await app.inject({ url: '/closed' });
    expect([res.statusCode, problemOf(res)['code'], res.headers['retry-after']]).toEqual([503, 'SHOP_CLOSED', '30']);
  });

  it('when a route of the plugin throws anything else, then the kit answers it as usual', async () => {
    const res = await app.inject({ url: '/bug' });
    const body = problemOf(res);
    expect([res.statusCode, body['code'], body['detail']]).toEqual([500, 'INTERNAL_ERROR', 'An unexpected error occurred.']);
    expect(Object.keys(body).sort()).toEqual(PROBLEM_KEYS);
  });

  it('when a route outside the plugin throws a domain error, then the table is not applied: 500', async () => {
    const res = await app.inject({ url: '/elsewhere' });
    expect([res.statusCode, problemOf(res)['code']]).toEqual([500, 'INTERNAL_ERROR']);
  });

  it('when the mapping is asked about an error it does not know, then it answers undefined', () => {
    expect(shopProblems(new Error('x'))).toBeUndefined();
    expect(shopProblems(null)).toBeUndefined();
    expect(shopProblems(new SoldOut('A'))).toMatchObject({ status: 409, code: 'SOLD_OUT' });
  });
});
