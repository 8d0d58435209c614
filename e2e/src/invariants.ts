import Redis from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { eventually, type Client } from './client';
import type { Topology } from './platform';

/** An order a chaos run created, with the token of its owner. */
export interface Tracked {
  orderId: string;
  token: string;
  total: number;
}

export interface Verdict {
  orders: number;
  /** Orders with more than one succeeded charge at the provider. */
  doubleCharges: number;
  /** Payments whose effect never reached the order (an event lost), and events left pending. */
  lostEvents: number;
  violations: string[];
}

interface OrderState {
  status: string;
  charged: number;
  refunded: number;
  succeededCharges: number;
  payments: { status: string; amount: number; refundedAmount: number }[];
}

async function stateOf(client: Client, t: Tracked): Promise<OrderState> {
  const [order, payments, charges] = await Promise.all([
    client.request('order', 'GET', `/v1/orders/${t.orderId}`, { token: t.token }),
    client.request('payment', 'GET', `/v1/payments?orderId=${t.orderId}`, { token: t.token }),
    client.charges(t.orderId),
  ]);
  if (order.status !== 200 || payments.status !== 200) throw new Error(`order ${t.orderId}: GETs answered ${order.status} / ${payments.status}`);
  const succeeded = charges.filter((c) => c.status === 'succeeded');
  return {
    status: order.body.status,
    charged: succeeded.reduce((sum, c) => sum + c.amount, 0),
    refunded: succeeded.reduce((sum, c) => sum + c.refundedAmount, 0),
    succeededCharges: succeeded.length,
    payments: payments.body.data,
  };
}

/**
 * What must hold for one order once the platform has settled (Jepsen's bank check, per order):
 * the money the provider kept is 0 or the order's total, and it agrees with the order's status
 * and with payment-service's view. Answers the problems, none when it holds.
 */
function problemsOf(t: Tracked, s: OrderState): string[] {
  const kept = s.charged - s.refunded;
  const problems: string[] = [];
  const live = s.payments.filter((p) => p.status === 'SUCCEEDED' || p.status === 'PARTIALLY_REFUNDED');
  if (s.succeededCharges > 1) problems.push(`${s.succeededCharges} succeeded charges`);
  if (kept !== 0 && kept !== t.total) problems.push(`kept ${kept} of a total of ${t.total}`);
  const expectKept = s.status === 'PAID' ? t.total : 0;
  if (kept !== expectKept) problems.push(`order ${s.status} but the provider kept ${kept}`);
  if (s.status === 'PAID' && live.length !== 1) problems.push(`order PAID with ${live.length} live payments`);
  if (s.status !== 'PAID' && live.length > 0) problems.push(`a payment ${live[0]?.status} but the order is ${s.status}`);
  return problems.map((p) => `order ${t.orderId}: ${p}`);
}

/**
 * Checks every tracked order, waiting up to settleMs for events and compensations in flight.
 * A payment whose effect has not reached its order by then counts as a lost event.
 */
export async function checkOrders(client: Client, tracked: Tracked[], settleMs = 15_000): Promise<Verdict> {
  const verdict: Verdict = { orders: tracked.length, doubleCharges: 0, lostEvents: 0, violations: [] };
  const queue = [...tracked];
  const worker = async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      const order = t;
      let state: OrderState | undefined;
      await eventually(async () => {
        state = await stateOf(client, order);
        return problemsOf(order, state).length === 0;
      }, settleMs, 200);
      if (!state) state = await stateOf(client, order);
      const problems = problemsOf(order, state);
      if (state.succeededCharges > 1) verdict.doubleCharges++;
      // payment-service's view ahead of the order's: an event that never reached order-service.
      const paidButPending = state.payments.some((p) => p.status === 'SUCCEEDED') && state.status === 'PENDING';
      const refundedButPaid = state.status === 'PAID' && state.payments.some((p) => p.status === 'REFUNDED') && !state.payments.some((p) => p.status === 'SUCCEEDED');
      const unapplied = paidButPending || refundedButPaid;
      if (unapplied) verdict.lostEvents++;
      verdict.violations.push(...problems);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return verdict;
}

/**
 * Entries delivered to a consumer group and never acknowledged, over every event stream of the
 * run (waiting up to settleMs for them to drain): each is an event nobody has handled.
 */
export async function pendingEvents(topology: Topology, settleMs = 15_000): Promise<{ pending: number; detail: string[] }> {
  const local = topology.local;
  if (!local) throw new Error('pendingEvents needs the local platform (its Redis)');
  const redis = new Redis(local.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let detail: string[] = [];
    const count = async () => {
      detail = [];
      const streams: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${local.prefixes.events}*`, 'COUNT', 1_000, 'TYPE', 'stream');
        cursor = next;
        streams.push(...keys.filter((k) => !k.endsWith(':dead')));
      } while (cursor !== '0');
      let pending = 0;
      for (const stream of streams) {
        const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
        for (const g of groups) {
          const info = Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]]));
          const waiting = Number(info['pending']) + Number(info['lag'] ?? 0);
          if (waiting > 0) detail.push(`${stream} ${info['name']}: ${info['pending']} pending, ${info['lag']} undelivered`);
          pending += waiting;
        }
      }
      return pending;
    };
    let pending = await count();
    const deadline = Date.now() + settleMs;
    while (pending > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      pending = await count();
    }
    return { pending, detail };
  } finally {
    redis.disconnect();
  }
}

type Ask = (sql: string, values?: unknown[]) => Promise<Record<string, unknown>[]>;

/** One admin connection to the platform's MySQL for `work` (queries limited to 5 s each). */
async function withDatabase<T>(mysqlAdminUrl: string, work: (ask: Ask) => Promise<T>): Promise<T> {
  const db = await createConnection({ uri: mysqlAdminUrl, connectTimeout: 5_000 });
  try {
    return await work(async (sql, values = []) => (await db.query({ sql, values, timeout: 5_000 }))[0] as Record<string, unknown>[]);
  } finally {
    await db.end().catch(() => db.destroy());
  }
}

const binaryIds = (orderIds: string[]) => orderIds.map((id) => Buffer.from(id.replace(/-/g, ''), 'hex'));

async function processing(ask: Ask, orderIds: string[]): Promise<string[]> {
  if (orderIds.length === 0) return [];
  const rows = await ask(`SELECT LOWER(HEX(order_id)) AS o FROM payment_service.payments WHERE status = 'PROCESSING' AND order_id IN (?)`, [binaryIds(orderIds)]);
  return rows.map((r) => String(r['o']));
}

/** The orders (hex ids) that have a payment PROCESSING: at the provider, or left there by a request that gave up. */
export function paymentsProcessing(mysqlAdminUrl: string, orderIds: string[]): Promise<string[]> {
  return withDatabase(mysqlAdminUrl, (ask) => processing(ask, orderIds));
}

/**
 * What must hold in MySQL once the platform has settled, that the public APIs do not show:
 * no payment of the run left PROCESSING (the recovery sweep settles what no request answers for),
 * no outbox row left unsent in any schema, and no Idempotency-Key of the run with two payments.
 * Waits up to settleMs for the sweep and the relays; answers the problems, none when it holds.
 */
export async function storageProblems(mysqlAdminUrl: string, orderIds: string[], settleMs = 20_000): Promise<string[]> {
  const problems = async (ask: Ask) => {
    const found = (await processing(ask, orderIds)).map((o) => `order ${o}: a payment still PROCESSING`);
    if (orderIds.length > 0) {
      const keys = await ask(
        `SELECT idempotency_key AS k, COUNT(*) AS n FROM payment_service.payments WHERE order_id IN (?) GROUP BY user_id, idempotency_key HAVING COUNT(*) > 1`,
        [binaryIds(orderIds)],
      );
      found.push(...keys.map((r) => `key ${String(r['k'])}: ${String(r['n'])} payments`));
    }
    for (const schema of ['order_service', 'payment_service']) {
      const [row] = await ask(`SELECT COUNT(*) AS n FROM ${schema}.outbox WHERE sent_at IS NULL`);
      if (Number(row?.['n']) > 0) found.push(`${schema}: ${String(row?.['n'])} outbox rows unsent`);
    }
    return found;
  };
  return withDatabase(mysqlAdminUrl, async (ask) => {
    const deadline = Date.now() + settleMs;
    let found = await problems(ask);
    while (found.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      found = await problems(ask);
    }
    return found;
  });
}
