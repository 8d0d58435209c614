import { randomUUID } from 'node:crypto';
import { Client, ITEMS, type Answer } from '../../e2e/src/client';
import type { Topology } from '../../e2e/src/platform';

/**
 * What the soak sends: ten routes in fixed shares, each operation one HTTP request of a client
 * (the e2e suite's, one simulated address per user). Operations that need something to act on
 * take it from the pools the others fill: a create feeds the payments and cancels, a payment
 * the refunds. Every pool is capped, so the soak's own memory stays flat.
 */

export interface User {
  client: Client;
  email: string;
  password: string;
  /** Undefined until the user has signed in. */
  token?: string;
}

/** A route as the report names it, the weight of its share of the requests, and what it answers when all is well. */
export const ROUTES = [
  { route: 'GET /v1/orders/{id}', weight: 40, expect: 200 },
  { route: 'POST /v1/orders', weight: 20, expect: 201 },
  { route: 'POST /v1/payments', weight: 10, expect: 201 },
  { route: 'GET /v1/payments/{id}', weight: 6, expect: 200 },
  { route: 'GET /v1/orders', weight: 6, expect: 200 },
  { route: 'POST /v1/payments/{id}/refunds', weight: 5, expect: 201 },
  { route: 'POST /v1/orders/{id}/cancel', weight: 5, expect: 200 },
  { route: 'GET /v1/users/me', weight: 4, expect: 200 },
  { route: 'POST /v1/auth/login', weight: 2, expect: 200 },
  { route: 'POST /v1/auth/register', weight: 2, expect: 201 },
] as const;

export type Route = (typeof ROUTES)[number]['route'];

const POOL = { users: 500, pending: 2_000, recent: 500, paid: 2_000 };
/** A payment is refunded once it is this old, so its PaymentSucceeded event is surely handled first. */
const REFUND_AFTER_MS = 5_000;

interface Owned {
  user: User;
  id: string;
}

/** Keeps the newest `cap` items. */
function capped<T>(list: T[], item: T, cap: number): void {
  list.push(item);
  if (list.length > cap) list.splice(0, list.length - cap);
}

const pick = <T>(list: T[]): T | undefined => list[Math.floor(Math.random() * list.length)];

export class Mix {
  private readonly users: User[] = [];
  /** Registered, not yet signed in: the next logins take them first. */
  private readonly fresh: User[] = [];
  private readonly pending: Owned[] = [];
  private readonly recentOrders: Owned[] = [];
  private readonly paid: (Owned & { at: number })[] = [];
  private readonly recentPayments: Owned[] = [];

  constructor(private readonly topology: Topology) {}

  /** `count` users registered and signed in before the load starts. */
  async seed(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const user = this.newUser();
      const account = await user.client.signUp(`Soak ${i + 1}`);
      Object.assign(user, { email: account.email, password: account.password, token: account.accessToken });
      capped(this.users, user, POOL.users);
    }
  }

  /**
   * One request of `route`, ready to send: what it acts on is taken from its pool now. An order
   * create instead while the route has nothing to act on yet (the report counts it as a create).
   */
  plan(route: Route): { route: Route; send: () => Promise<Answer> } {
    const send = this.ops[route]();
    if (send) return { route, send };
    return { route: 'POST /v1/orders', send: this.ops['POST /v1/orders']() as () => Promise<Answer> };
  }

  private newUser(): User {
    return { client: new Client(this.topology, { checkAnswers: false }), email: `soak-${randomUUID()}@example.test`, password: `pw-${randomUUID()}` };
  }

  private signedIn(): User {
    return pick(this.users) as User;
  }

  /** Per route: the request to send, or undefined when its pool is empty. */
  private readonly ops: Record<Route, () => (() => Promise<Answer>) | undefined> = {
    'GET /v1/orders/{id}': () => {
      const o = pick(this.recentOrders);
      return o && (() => o.user.client.request('order', 'GET', `/v1/orders/${o.id}`, { token: o.user.token }));
    },
    'POST /v1/orders': () => {
      const user = this.signedIn();
      return async () => {
        const answer = await user.client.createOrder(user.token as string, ITEMS, randomUUID());
        if (answer.status === 201) {
          const o = { user, id: answer.body.id as string };
          capped(this.pending, o, POOL.pending);
          capped(this.recentOrders, o, POOL.recent);
        }
        return answer;
      };
    },
    'POST /v1/payments': () => {
      const o = this.pending.shift();
      return o && (async () => {
        const answer = await o.user.client.pay(o.user.token as string, o.id);
        if (answer.status === 201) {
          capped(this.paid, { user: o.user, id: answer.body.id as string, at: Date.now() }, POOL.paid);
          capped(this.recentPayments, { user: o.user, id: answer.body.id as string }, POOL.recent);
        }
        return answer;
      });
    },
    'GET /v1/payments/{id}': () => {
      const p = pick(this.recentPayments);
      return p && (() => p.user.client.request('payment', 'GET', `/v1/payments/${p.id}`, { token: p.user.token }));
    },
    'GET /v1/orders': () => {
      const user = this.signedIn();
      return () => user.client.request('order', 'GET', '/v1/orders?limit=20', { token: user.token });
    },
    'POST /v1/payments/{id}/refunds': () => {
      if ((this.paid[0]?.at ?? Infinity) > Date.now() - REFUND_AFTER_MS) return undefined;
      const p = this.paid.shift() as Owned;
      const headers = { 'idempotency-key': randomUUID() };
      return () => p.user.client.request('payment', 'POST', `/v1/payments/${p.id}/refunds`, { token: p.user.token, body: {}, headers });
    },
    'POST /v1/orders/{id}/cancel': () => {
      const o = this.pending.pop();
      return o && (() => o.user.client.request('order', 'POST', `/v1/orders/${o.id}/cancel`, { token: o.user.token }));
    },
    'GET /v1/users/me': () => {
      const user = this.signedIn();
      return () => user.client.request('user', 'GET', '/v1/users/me', { token: user.token });
    },
    'POST /v1/auth/login': () => {
      const user = this.fresh.shift() ?? this.signedIn();
      return async () => {
        const answer = await user.client.request('user', 'POST', '/v1/auth/login', { body: { email: user.email, password: user.password } });
        if (answer.status === 200) {
          const first = user.token === undefined;
          user.token = answer.body.accessToken as string;
          if (first) capped(this.users, user, POOL.users);
        }
        return answer;
      };
    },
    'POST /v1/auth/register': () => {
      const user = this.newUser();
      return async () => {
        const answer = await user.client.request('user', 'POST', '/v1/auth/register', { body: { email: user.email, password: user.password, name: 'Soak' } });
        if (answer.status === 201) capped(this.fresh, user, POOL.users);
        return answer;
      };
    },
  };
}
