import { MEASURED_USER } from '../orders/rows';
import { openSchema, type BenchSchema } from '../orders/schema';
import { growTo, type SeedResult } from '../orders/seed';
import { sizeLabel } from '../orders/report';

/**
 * The list scenarios' data: bench:orders' seeding, as it is, into two order-service schemas
 * of the bench's own, one of 10k orders and one of 1M (BENCH_ORDERS). Each holds the
 * measured user's 2,000 orders among everyone else's. Fixed names, so that with
 * BENCH_KEEP=1 a later run finds them seeded and adds nothing.
 */

export const SMALL = 10_000;
/** How deep the measured page is: after this many of the measured user's 2,000 orders, reached by cursor. */
export const PAGE_AFTER = 1_500;
export const PAGE_LIMIT = 20;

export interface ListData {
  label: string;
  schema: BenchSchema;
  seed: SeedResult;
  seconds: number;
}

export async function seedList(orders: number): Promise<ListData> {
  const label = sizeLabel(orders);
  const started = performance.now();
  const schema = await openSchema(`bench_http_orders_${label.toLowerCase()}`);
  const seed = await growTo(schema.url, orders);
  const seconds = (performance.now() - started) / 1000;
  const what = seed.added > 0 ? `${seed.added.toLocaleString('en-US')} orders added in ${(seed.insertMs / 1000).toFixed(1)} s` : 'already seeded';
  console.log(`${schema.name}: ${seed.total.toLocaleString('en-US')} orders (${what}; ${seconds.toFixed(1)} s with migrations and ANALYZE)`);
  return { label, schema, seed, seconds };
}

/** The path of the measured user's page after PAGE_AFTER orders, its cursor found by walking the list as a client would. */
export async function deepPagePath(baseUrl: string, token: string): Promise<string> {
  let cursor: string | null = null;
  for (let seen = 0; seen < PAGE_AFTER; seen += 100) {
    const query = new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) });
    const res = await fetch(`${baseUrl}/v1/orders?${query}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status !== 200) throw new Error(`GET /v1/orders answered ${res.status}: ${await res.text()}`);
    cursor = ((await res.json()) as { nextCursor: string | null }).nextCursor;
    if (!cursor) throw new Error(`the measured user's list ended before ${PAGE_AFTER} orders`);
  }
  return `/v1/orders?${new URLSearchParams({ limit: String(PAGE_LIMIT), cursor: cursor as string })}`;
}

export { MEASURED_USER };
