import { createConnection, type Connection } from 'mysql2/promise';
import { join } from 'node:path';
import type { Account } from '../../e2e/src/client';
import { sleep } from '../../e2e/src/processes';
import type { Cleanup } from '../http/platform';
import { pooledScript, staticScript } from '../http/lua';
import { growPool, seedPool, type Pool } from '../http/pools';
import { cachedOrder, orderBody } from '../http/scenarios';
import { ordersUrl, paymentsUrl, type Contender } from './contenders';

/**
 * The paths measured, each made ready on a contender before its warm-up: what wrk is
 * pointed at, with bench:http's Lua scripts and pools.
 */

export interface Target {
  url: string;
  script: string;
  /** Pooled scripts take an entry per request from here. */
  pool?: Pool;
  /** After the warm-up, with its rate: makes the pool big enough for the rounds. */
  refill?(perSecond: number): Promise<void>;
  /**
   * After a wrk run of `answers` answers: waits until the work they set off has been done, and
   * answers how many SQL statements the waiting itself sent (`polls`, taken out of the figures)
   * and, where it can count them, how many requests were done since the last settle
   * (`completed`: those still in flight when wrk stopped included) and how long after wrk
   * stopped the last of them was seen done (`drainMs`).
   */
  settle?(answers: number): Promise<{ polls: number; completed?: number; drainMs?: number }>;
  /**
   * From the platform's own metrics, so far: `calls`, requests its processes answered other than
   * the load's (calls between services and to the sandbox provider); `served`, when known, the
   * load's own requests answered 2xx, those still in flight when wrk stopped included; `byRoute`,
   * the calls by `<app> <method> <route> <status>`.
   */
  internalCalls?(): Promise<{ calls: number; served?: number; byRoute: Map<string, number> }>;
}

export interface Context {
  dir: string;
  rounds: number;
  roundSeconds: number;
  warmupSeconds: number;
  cleanup: Cleanup;
}

export interface Scenario {
  name: string;
  target(c: Contender, ctx: Context): Promise<Target>;
}

const bearer = (user: Account) => ({ Authorization: `Bearer ${user.accessToken}` });
const first = (c: Contender) => c.users[0] as Account;

/** Payments per second no build comes near here (about 200 on 2 cores): the warm-up's pool is sized from it. */
const PAYMENTS_CEILING = 2_000;
/** How long a round's orders may take to all read PAID after its last answer. */
const PAID_WAIT_MS = 60_000;

const hit: Scenario = {
  name: 'GET /v1/orders/{id}, cache hit',
  async target(c, { dir }) {
    const order = await cachedOrder(ordersUrl(c), first(c));
    return { url: `${ordersUrl(c)}${order.path}`, script: staticScript(dir, `hit-${c.build.label}`, { method: 'GET', headers: bearer(first(c)) }) };
  },
};

/** An order of `items` items, the same body every request. */
const create = (items: number): Scenario => ({
  name: `POST /v1/orders, ${items} item${items === 1 ? '' : 's'}`,
  async target(c, { dir }) {
    const headers = { ...bearer(first(c)), 'Content-Type': 'application/json' };
    return { url: `${ordersUrl(c)}/v1/orders`, script: staticScript(dir, `create-${items}-${c.build.label}`, { method: 'POST', headers, body: orderBody(items) }) };
  },
});

/**
 * A successful payment with `tok_visa` of a PENDING order never served before (a pool seeded
 * into the build's order schema), with a fresh Idempotency-Key, and what its event sets off:
 * order-service marking the order PAID. A run is over when every answered payment's order
 * reads PAID.
 */
export const pay: Scenario = {
  name: 'POST /v1/payments, end to end',
  async target(c, ctx) {
    const owners = c.users.map((u) => u.id);
    const label = c.build.label;
    const pool = await seedPool(c.databases['order-service'], owners, Math.ceil(PAYMENTS_CEILING * ctx.warmupSeconds * 1.5) + 1_000, join(ctx.dir, `pay-${label}.txt`));
    const db = await createConnection({ uri: c.databases['order-service'] });
    ctx.cleanup(() => db.end());
    const settle = paidSettler(paidCounter(db, owners, 'binary'), `build ${label}`);
    return {
      url: paymentsUrl(c),
      script: pooledScript(ctx.dir, `pay-${label}`, { kind: 'pay', poolFile: pool.file, tokensFile: c.tokensFile, keyPrefix: `bench-cpu-${label}-${Date.now().toString(36)}-` }),
      pool,
      async refill(perSecond) {
        // The rounds at 2.5× the warm-up's rate, and another warm-up at the ceiling (bench:compare pays at two concurrencies from one pool).
        const needed = pool.offset + Math.ceil(perSecond * ctx.rounds * ctx.roundSeconds * 2.5 + PAYMENTS_CEILING * ctx.warmupSeconds * 1.5) + 2_000;
        if (needed > pool.size) await growPool(c.databases['order-service'], owners, pool, needed - pool.size);
      },
      settle,
    };
  },
};

/**
 * The orders of `owners` that read PAID, one statement on the (user_id, status, id) index: user
 * ids stored as BINARY(16) (order-service's schema) or as text (the essential reference's).
 */
export function paidCounter(db: Connection, owners: readonly string[], ids: 'binary' | 'text'): () => Promise<number> {
  const placeholder = ids === 'binary' ? 'UNHEX(?)' : '?';
  const sql = `SELECT COUNT(*) AS n FROM orders WHERE user_id IN (${owners.map(() => placeholder).join(',')}) AND status = 'PAID'`;
  const params = ids === 'binary' ? owners.map((id) => id.replace(/-/g, '')) : [...owners];
  return async () => Number(((await db.query(sql, params))[0] as { n: number }[])[0]?.n);
}

/** Polls in a row the PAID count must hold still, once it has reached the answers, for the payments still in flight when wrk stopped to be done too. */
const STILL_POLLS = 4;

/**
 * The settle of a payment scenario, from `paidNow` (the orders reading PAID, one statement):
 * waits until every answered payment's order reads PAID and the count has held still for
 * STILL_POLLS polls 50 ms apart; `completed` is how many more read PAID than at the last settle,
 * and `drainMs` when the first poll that read the final count returned (ms after the call: the
 * end of the wrk run), the still polls after it left out.
 */
export function paidSettler(
  paidNow: () => Promise<number>,
  who: string,
  pauseMs = 50,
): (answers: number) => Promise<{ polls: number; completed: number; drainMs: number }> {
  let answered = 0;
  let counted = 0;
  return async (answers) => {
    answered += answers;
    const started = performance.now();
    const deadline = started + PAID_WAIT_MS;
    let last = -1;
    let still = 0;
    let reachedAt = started;
    for (let polls = 1; ; polls++) {
      const now = await paidNow();
      still = now === last ? still + 1 : 0;
      if (now !== last) reachedAt = performance.now();
      last = now;
      if (now >= answered && still >= STILL_POLLS) {
        const completed = now - counted;
        counted = now;
        return { polls, completed, drainMs: reachedAt - started };
      }
      if (performance.now() > deadline) throw new Error(`${who}: ${now} orders read PAID ${PAID_WAIT_MS / 1000} s after ${answered} payments were answered`);
      await sleep(pauseMs);
    }
  };
}

export const SCENARIOS: readonly Scenario[] = [hit, create(1), create(20), pay];
