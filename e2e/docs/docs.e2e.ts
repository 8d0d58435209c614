import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chromiumMissing, launchChromium } from '../src/chromium';
import { topologyFromEnv } from '../src/platform';

/**
 * Each service's Swagger UI, rendered in headless Chromium as a reader of the docs sees it:
 * every operation of the service's table in CONTRACT.md is listed, and "Try it out" works.
 * Only outside CI is a missing browser a reason to skip (e2e/src/chromium.ts).
 */
const ARTIFACTS = join(__dirname, '..', 'artifacts');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const topology = topologyFromEnv();
/** CONTRACT.md's tables, path parameters as OpenAPI writes them. */
const SERVICES: { service: string; url: string; operations: string[] }[] = [
  {
    service: 'user-service',
    url: topology.user[0] as string,
    operations: [
      'POST /v1/auth/register',
      'POST /v1/auth/login',
      'POST /v1/auth/refresh',
      'POST /v1/auth/logout',
      'POST /v1/auth/logout-all',
      'GET /v1/users/me',
      'PATCH /v1/users/me',
      'POST /v1/users/me/password',
      'GET /.well-known/jwks.json',
    ],
  },
  {
    service: 'order-service',
    url: topology.order[0] as string,
    operations: ['POST /v1/orders', 'GET /v1/orders/{id}', 'GET /v1/orders', 'POST /v1/orders/{id}/cancel'],
  },
  {
    service: 'payment-service',
    url: topology.payment[0] as string,
    operations: ['POST /v1/payments', 'GET /v1/payments/{id}', 'GET /v1/payments', 'POST /v1/payments/{id}/refunds'],
  },
  { service: 'gateway-sandbox', url: topology.sandbox, operations: ['POST /v1/charges', 'POST /v1/refunds', 'GET /v1/charges'] },
];

const reason = chromiumMissing();
const skip = reason !== undefined;
if (skip) console.warn(`docs e2e skipped: ${reason}`);
const title = skip ? `docs in the browser (skipped: ${reason})` : 'docs in the browser';

/** Swagger UI, rendered: the operations listed in the page as "METHOD /path". */
async function openDocs(page: Page, url: string): Promise<string[]> {
  const res = await page.goto(`${url}/docs`);
  expect(res?.status()).toBe(200);
  await page.locator('.swagger-ui .opblock').first().waitFor({ timeout: 20_000 });
  return page.locator('.opblock').evaluateAll((blocks) =>
    blocks.map((block) => {
      const method = block.querySelector('.opblock-summary-method')?.textContent ?? '';
      const pathEl = block.querySelector('.opblock-summary-path');
      // The shown text has zero-width spaces after each '/' for line breaking; data-path has none.
      const path = pathEl?.getAttribute('data-path') ?? (pathEl?.textContent ?? '').replace(/\u200b/g, '');
      return `${method.trim().toUpperCase()} ${path.trim()}`;
    }),
  );
}

async function screenshot(page: Page, name: string): Promise<void> {
  const file = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const png = readFileSync(file);
  expect(png.length).toBeGreaterThan(PNG_SIGNATURE.length);
  expect(png.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)).toBe(true);
}

(skip ? describe.skip : describe)(title, () => {
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  const withPage = async (run: (page: Page) => Promise<void>) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      await run(await context.newPage());
    } finally {
      await context.close();
    }
  };

  it.each(SERVICES)('when $service /docs renders in Chromium, then it lists every operation of its contract table', ({ service, url, operations }) =>
    withPage(async (page) => {
      const listed = await openDocs(page, url);
      expect(operations.filter((op) => !listed.includes(op))).toEqual([]);
      await screenshot(page, `docs-${service}`);
    }),
  );

  it('when "Try it out" executes GET /.well-known/jwks.json in user-service docs, then the page shows 200 and the keys', () =>
    withPage(async (page) => {
      await openDocs(page, topology.user[0] as string);
      const block = page.locator('.opblock-get').filter({ has: page.locator('.opblock-summary-path[data-path="/.well-known/jwks.json"]') });
      await block.locator('.opblock-summary').first().click();
      await block.locator('button.try-out__btn').click();
      await block.locator('button.execute').click();
      const response = block.locator('.live-responses-table .response').first();
      await response.waitFor({ timeout: 20_000 });
      await expect(response.locator('.response-col_status').textContent()).resolves.toMatch(/^\s*200\s*$/);
      const body = JSON.parse((await response.locator('.response-col_description pre.microlight').first().textContent()) ?? '');
      expect(body.keys.length).toBeGreaterThan(0);
      expect(body.keys[0]).toEqual(expect.objectContaining({ kid: expect.any(String), kty: expect.any(String) }));
      await screenshot(page, 'docs-user-service-try-it-out');
    }),
  );
});
