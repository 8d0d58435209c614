import { createWriteStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createConnection, type Connection } from 'mysql2/promise';
import type { Account } from '../../e2e/src/client';
import { pooledScript, staticScript } from '../http/lua';
import type { Pool } from '../http/pools';
import { POOL_ITEM } from '../http/pools';
import { cachedOrder, orderBody } from '../http/scenarios';
import { ordersUrl, type Contender } from '../cpu/contenders';
import type { Entry, Runner } from '../cpu/rounds';
import { paidCounter, paidSettler, pay as platformPay, type Context, type Target } from '../cpu/scenarios';
import { internalCalls, startBare, type Public, type Reference } from './contenders';
import { BARE, ESSENTIAL, FLOOR, ORDER_READ, PLATFORM, TUNED, USUAL } from './goals';

/**
 * bench:compare's scenarios, as entries for bench:cpu's interleaved rounds: the same wrk load
 * (bench:http's Lua scripts and pools) against the platform and against each reference.
 */

export interface Contenders {
  platform: Contender;
  usual: Reference;
  tuned: Reference;
  essential: Reference;
  /** The Redis the platform and the references use. */
  redisUrl: string;
}

const bearer = (user: Account) => ({ Authorization: `Bearer ${user.accessToken}` });
const first = (c: Contenders) => c.platform.users[0] as Account;

/** The platform's target, with its internal calls counted (the load's own requests left out). */
const onPlatform = (c: Contenders, target: Target, load: Public): Entry => ({
  label: PLATFORM,
  runner: c.platform,
  target: { ...target, internalCalls: () => internalCalls(c.platform, load) },
});

/** A reference's target; the platform's processes serve none of its requests, so any they answer meanwhile is counted as its. */
const onReference = (c: Contenders, label: string, runner: Runner, target: Target): Entry => ({
  label,
  runner,
  target: { ...target, internalCalls: () => internalCalls(c.platform) },
});

/**
 * A cached GET /v1/orders/{id} (an order created and read twice), and the bare app answering its
 * JSON: as it is, and read from Redis with one GET per request (the floor of a read).
 */
export async function hit(c: Contenders, ctx: Context): Promise<Entry[]> {
  const get = (label: string) => staticScript(ctx.dir, `hit-${label.replace(/\W+/g, '-')}`, { method: 'GET', headers: bearer(first(c)) });
  const p = await cachedOrder(ordersUrl(c.platform), first(c));
  const bare = await startBare(BARE, p.body, ctx.cleanup);
  const floor = await startBare(FLOOR, p.body, ctx.cleanup, c.redisUrl);
  const entries = [
    onPlatform(c, { url: `${ordersUrl(c.platform)}${p.path}`, script: get(PLATFORM) }, { app: 'order-service', method: 'GET', route: '/v1/orders/:id' }),
    onReference(c, BARE, bare, { url: `${bare.url}${p.path}`, script: staticScript(ctx.dir, 'hit-bare', { method: 'GET', headers: {} }) }),
    onReference(c, FLOOR, floor, { url: `${floor.url}${p.path}`, script: staticScript(ctx.dir, 'hit-floor', { method: 'GET', headers: {} }) }),
  ];
  for (const [label, ref] of [[USUAL, c.usual], [TUNED, c.tuned]] as const) {
    const o = await cachedOrder(ref.url, first(c));
    entries.push(onReference(c, label, ref, { url: `${ref.url}${o.path}`, script: get(label) }));
  }
  return entries;
}

/** POST /v1/orders with `items` lines, the same body everywhere. */
export function create(c: Contenders, ctx: Context, items: number): Entry[] {
  const headers = { ...bearer(first(c)), 'Content-Type': 'application/json' };
  const post = (label: string) => staticScript(ctx.dir, `create${items}-${label.replace(/\W+/g, '-')}`, { method: 'POST', headers, body: orderBody(items) });
  return [
    onPlatform(c, { url: `${ordersUrl(c.platform)}/v1/orders`, script: post(PLATFORM) }, { app: 'order-service', method: 'POST', route: '/v1/orders' }),
    onReference(c, USUAL, c.usual, { url: `${c.usual.url}/v1/orders`, script: post(USUAL) }),
    onReference(c, TUNED, c.tuned, { url: `${c.tuned.url}/v1/orders`, script: post(TUNED) }),
  ];
}

/** Payments per second, order reads per second no reference comes near on 2 cores: the warm-up's pools are sized from them. */
const ESSENTIAL_CEILING = 4_000;
const READ_CEILING = 10_000;
const ROWS_PER_STATEMENT = 2_000;

/** The `sub` of an access token: the user id the references store as the owner. */
const subOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { sub: string }).sub;

/** `count` more PENDING orders (one line of 2 × 19.99) in the essential reference's schema, owned by the users in turn, listed in the pool's file. */
async function growEssential(databaseUrl: string, owners: string[], pool: Pool, count: number): Promise<void> {
  const conn = await createConnection({ uri: databaseUrl });
  const out = createWriteStream(pool.file, { flags: 'a' });
  const { sku, name, unitPrice, quantity } = POOL_ITEM;
  const items = JSON.stringify([{ sku, name, unitPrice, quantity, lineTotal: unitPrice * quantity }]);
  try {
    for (let at = 0; at < count; at += ROWS_PER_STATEMENT) {
      const rows: string[] = [];
      const lines: string[] = [];
      for (let i = 0; i < Math.min(ROWS_PER_STATEMENT, count - at); i++) {
        const id = randomUUID();
        const owner = (pool.size + at + i) % owners.length;
        rows.push(`('${id}','${owners[owner]}','PENDING','EUR',${unitPrice * quantity},'${items}',NOW(3),NOW(3))`);
        lines.push(`${id} ${owner}\n`);
      }
      await conn.query(`INSERT INTO orders (id, user_id, status, currency, total_amount, items, created_at, updated_at) VALUES ${rows.join(',')}`);
      out.write(lines.join(''));
    }
    pool.size += count;
  } finally {
    await new Promise((resolve) => out.end(resolve));
    await conn.end();
  }
}

/** A pool of orders of the essential reference's, topped up after each warm-up from the rate it saw (2.5× room, as bench:cpu's) and for the next warm-up. */
async function essentialPool(c: Contenders, ctx: Context, owners: string[], name: string, ceiling: number): Promise<Required<Pick<Target, 'pool' | 'refill'>>> {
  const pool: Pool = { file: join(ctx.dir, `${name}.txt`), size: 0, offset: 0 };
  await growEssential(c.essential.databaseUrl, owners, pool, Math.ceil(ceiling * ctx.warmupSeconds * 1.5) + 1_000);
  return {
    pool,
    async refill(perSecond) {
      // The rounds at 2.5× the warm-up's rate, and the next scenario's warm-up (at another concurrency) at the ceiling.
      const needed = pool.offset + Math.ceil(perSecond * ctx.rounds * ctx.roundSeconds * 2.5 + ceiling * ctx.warmupSeconds * 1.5) + 2_000;
      if (needed > pool.size) await growEssential(c.essential.databaseUrl, owners, pool, needed - pool.size);
    },
  };
}

/**
 * The payment's three entries, made once and used at every concurrency (their pools go on
 * where the last run stopped): the platform's payment end to end (bench:cpu's: counted until
 * order-service reads the order PAID); the essential reference's payment, counted until its
 * consumer has set the order PAID; and its GET /v1/orders/{id} of an order it never served
 * (token check, Redis GET miss, one SELECT, SET), the order read added to the reference.
 */
export async function payments(c: Contenders, ctx: Context): Promise<(connections: number) => Entry[]> {
  const platform = onPlatform(c, await platformPay.target(c.platform, ctx), { app: 'payment-service', method: 'POST', route: '/v1/payments' });
  const tokensFile = c.platform.tokensFile;
  const owners = c.platform.users.map((u) => subOf(u.accessToken));
  const payable = await essentialPool(c, ctx, owners, 'essential-pay', ESSENTIAL_CEILING);
  const db: Connection = await createConnection({ uri: c.essential.databaseUrl });
  ctx.cleanup(() => db.end());
  // By owner and status, on the index the platform's orders table has too: a scan of the whole table would cost the reference's MariaDB more with every round.
  const paidNow = paidCounter(db, owners, 'text');
  const essential = onReference(c, ESSENTIAL, c.essential, {
    url: c.essential.url,
    script: pooledScript(ctx.dir, 'essential-pay', { kind: 'pay', poolFile: payable.pool.file, tokensFile, keyPrefix: `bench-compare-${Date.now().toString(36)}-` }),
    ...payable,
    settle: paidSettler(paidNow, ESSENTIAL),
  });
  const readable = await essentialPool(c, ctx, owners, 'essential-read', READ_CEILING);
  const read = onReference(c, ORDER_READ, c.essential.alone(ORDER_READ), {
    url: c.essential.url,
    script: pooledScript(ctx.dir, 'essential-read', { kind: 'read', poolFile: readable.pool.file, tokensFile }),
    ...readable,
  });
  return (connections) => [platform, essential, read].map((e) => ({ ...e, connections }));
}
