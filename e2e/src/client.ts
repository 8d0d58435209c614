import { randomBytes, randomUUID } from 'node:crypto';
import { createPlatformClient, createSandboxClient, type PlatformClient } from '@platform/client';
import { readEventStream, type EventStreamReader } from '@platform/testing';
import { expectDocumented } from './openapi-documents';
import type { ServiceName, Topology } from './platform';

export type Target = ServiceName | 'sandbox';

/** JSON bodies are read as the contract describes them; tests assert their shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

export interface Answer<T = Json> {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or undefined for an empty or non-JSON one. */
  body: T;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as it is, instead of JSON.stringify(body). */
  raw?: string;
  token?: string;
  headers?: Record<string, string>;
  /** This instance of the service instead of the next in turn. */
  instance?: number;
  /** Default 20 s; a request past it rejects. */
  timeoutMs?: number;
}

/** How a typed call is sent: what RequestOptions says beyond openapi-fetch's own options. */
export type SendOptions = Pick<RequestOptions, 'instance' | 'timeoutMs'>;

/** The typed clients of libs/client, the sandbox's too. */
export type TypedApi = PlatformClient & { sandbox: ReturnType<typeof createSandboxClient> };

/** Answers that carry no body, which a Response must be made without. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** One request as the client saw it, for the figures of a fault: when, how long, and its answer. */
export interface RequestRecord {
  target: Target;
  method: string;
  path: string;
  /** Date.now() when it was sent. */
  startedAt: number;
  ms: number;
  /** 0: no answer (refused, reset, or past the request's timeout). */
  status: number;
  retryAfter: string | null;
  code?: string;
}

export interface Account {
  id: string;
  email: string;
  password: string;
  name: string;
  accessToken: string;
  refreshToken: string;
}

export const ITEMS = [
  { sku: 'BOOK-1', name: 'A book', unitPrice: 1_999, quantity: 2 },
  { sku: 'PEN.blue', name: 'A pen', unitPrice: 250, quantity: 1 },
];
/** What ITEMS cost together. */
export const ITEMS_TOTAL = 1_999 * 2 + 250;

const fakeIp = () => `10.${[...randomBytes(3)].join('.')}`;

/**
 * A REST client of the platform, as an outside one sees it: plain HTTP to the base URLs.
 * Requests go to each service's instances in turn, so consecutive calls of one test land on
 * different instances. Each client is one address: it names itself in X-Forwarded-For, which
 * the services trust from the loopback balancer position (TRUST_PROXY), so per-IP limits see
 * the simulated clients apart, as they would see real ones behind a load balancer.
 */
export class Client {
  readonly ip: string;
  private readonly turn: Record<Target, number> = { user: 0, order: 0, payment: 0, sandbox: 0 };
  /** Requests sent by this client, for the figures. */
  sent = 0;
  private readonly recordings = new Set<RequestRecord[]>();
  /** The Answer behind each Response a typed call was given. */
  private readonly answers = new WeakMap<Response, Answer>();
  private readonly checkAnswers: boolean;

  /**
   * `checkAnswers` (default true) holds every answer against the served OpenAPI document
   * (openapi-documents.ts). The benches turn it off: they measure, and compare builds from
   * before the documents were exact.
   */
  constructor(
    readonly topology: Topology,
    opts: { ip?: string; checkAnswers?: boolean } = {},
  ) {
    this.ip = opts.ip ?? fakeIp();
    this.checkAnswers = opts.checkAnswers ?? true;
  }

  instances(target: Target): string[] {
    return target === 'sandbox' ? [this.topology.sandbox] : this.topology[target];
  }

  base(target: Target, instance?: number): string {
    const urls = this.instances(target);
    const i = instance ?? this.turn[target]++;
    return urls[i % urls.length] as string;
  }

  /**
   * Keeps a record of every request that ends from now until `stop()` (answered or not): the
   * list fills as they end.
   */
  record(): { records: RequestRecord[]; stop(): void } {
    const records: RequestRecord[] = [];
    this.recordings.add(records);
    return { records, stop: () => this.recordings.delete(records) };
  }

  async request<T = Json>(target: Target, method: string, path: string, opts: RequestOptions = {}): Promise<Answer<T>> {
    if (this.recordings.size === 0) return this.send<T>(target, method, path, opts);
    const startedAt = Date.now();
    const keep = (status: number, retryAfter: string | null, code?: string) => {
      const record: RequestRecord = { target, method, path, startedAt, ms: Date.now() - startedAt, status, retryAfter, code };
      for (const records of this.recordings) records.push(record);
    };
    try {
      const answer = await this.send<T>(target, method, path, opts);
      keep(answer.status, answer.headers.get('retry-after'), (answer.body as { code?: string } | undefined)?.code);
      return answer;
    } catch (err) {
      keep(0, null);
      throw err;
    }
  }

  private async send<T>(target: Target, method: string, path: string, opts: RequestOptions): Promise<Answer<T>> {
    const headers: Record<string, string> = { 'x-forwarded-for': this.ip, ...opts.headers };
    if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
    let payload: string | undefined = opts.raw;
    if (payload === undefined && opts.body !== undefined) payload = JSON.stringify(opts.body);
    if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    this.sent++;
    const res = await fetch(`${this.base(target, opts.instance)}${path}`, {
      method,
      headers,
      body: payload,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 20_000),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const answer = { status: res.status, headers: res.headers, body: body as T, text };
    if (this.checkAnswers) await expectDocumented(this.topology, target, method, path, answer);
    return answer;
  }

  /**
   * The typed clients (libs/client, over openapi-fetch), signed with `token`. Their base URLs name
   * the service (`http://order`); the fetch they are given sends each Request openapi-fetch built
   * through request(), so typed calls take turns over the instances, carry this client's address,
   * are recorded and time out as raw ones do, and see the same answers.
   */
  api(token?: string, send: SendOptions = {}): TypedApi {
    const fetch = (req: Request) => this.forward(req, send);
    const urls = { userUrl: 'http://user', orderUrl: 'http://order', paymentUrl: 'http://payment' };
    return { ...createPlatformClient({ ...urls, token, fetch }), sandbox: createSandboxClient({ url: 'http://sandbox', fetch }) };
  }

  /** A typed call's answer as request() gave it (status, headers, body, text): for tests that assert the wire. */
  async answer(call: Promise<{ response: Response }>): Promise<Answer> {
    const { response } = await call;
    const answer = this.answers.get(response);
    if (!answer) throw new Error('not the answer of a typed call of this client');
    return answer;
  }

  private async forward(req: Request, send: SendOptions): Promise<Response> {
    const url = new URL(req.url);
    const raw = req.body === null ? undefined : await req.text();
    const headers = Object.fromEntries(req.headers);
    const answer = await this.request(url.hostname as Target, req.method, `${url.pathname}${url.search}`, { ...send, raw, headers });
    const response = new Response(NULL_BODY.has(answer.status) ? null : answer.text, { status: answer.status, headers: answer.headers });
    this.answers.set(response, answer);
    return response;
  }

  /** The same request to every instance of the service at once. */
  everywhere<T = Json>(target: ServiceName, method: string, path: string, opts: Omit<RequestOptions, 'instance'> = {}): Promise<Answer<T>[]> {
    return Promise.all(this.instances(target).map((_, i) => this.request<T>(target, method, path, { ...opts, instance: i })));
  }

  /** The same typed call to every instance of the service at once. */
  onEvery(target: ServiceName, token: string | undefined, call: (api: TypedApi) => Promise<{ response: Response }>): Promise<Answer[]> {
    return Promise.all(this.instances(target).map((_, instance) => this.answer(call(this.api(token, { instance })))));
  }

  /** A new account, registered and signed in. */
  async signUp(name = 'E2E User'): Promise<Account> {
    const email = `e2e-${randomUUID()}@example.test`;
    const password = `pw-${randomBytes(9).toString('base64url')}`;
    const { data: user, response } = await this.api().user.POST('/v1/auth/register', { body: { email, password, name } });
    if (!user) throw new Error(`register answered ${response.status}: ${this.textOf(response)}`);
    const tokens = await this.login(email, password);
    return { id: user.id, email, password, name, ...tokens };
  }

  async login(email: string, password: string): Promise<{ accessToken: string; refreshToken: string }> {
    const { data: pair, response } = await this.api().user.POST('/v1/auth/login', { body: { email, password } });
    if (!pair) throw new Error(`login answered ${response.status}: ${this.textOf(response)}`);
    return { accessToken: pair.accessToken, refreshToken: pair.refreshToken };
  }

  createOrder(token: string, items = ITEMS, key?: string, send: SendOptions = {}): Promise<Answer> {
    const headers = key === undefined ? undefined : { 'idempotency-key': key };
    return this.answer(this.api(token, send).order.POST('/v1/orders', { body: { currency: 'EUR', items }, headers }));
  }

  /** An order that must be created: its id. */
  async newOrder(token: string, items = ITEMS): Promise<string> {
    const { data: order, response } = await this.api(token).order.POST('/v1/orders', { body: { currency: 'EUR', items } });
    if (!order) throw new Error(`order create answered ${response.status}: ${this.textOf(response)}`);
    return order.id;
  }

  getOrder(token: string, id: string, send: SendOptions = {}): Promise<Answer> {
    return this.answer(this.api(token, send).order.GET('/v1/orders/{id}', { params: { path: { id } } }));
  }

  cancel(token: string, id: string, send: SendOptions = {}): Promise<Answer> {
    return this.answer(this.api(token, send).order.POST('/v1/orders/{id}/cancel', { params: { path: { id } } }));
  }

  pay(token: string, orderId: string, key: string = randomUUID(), card = 'tok_visa', opts: SendOptions = {}): Promise<Answer> {
    return this.answer(
      this.api(token, opts).payment.POST('/v1/payments', {
        params: { header: { 'Idempotency-Key': key } },
        body: { orderId, paymentMethod: { type: 'card', token: card } },
      }),
    );
  }

  /** A refund of `amount` (all that is left without it) under a new key unless one is given. */
  refund(token: string, paymentId: string, amount?: number, key: string = randomUUID(), opts: SendOptions = {}): Promise<Answer> {
    return this.answer(
      this.api(token, opts).payment.POST('/v1/payments/{id}/refunds', {
        params: { path: { id: paymentId }, header: { 'Idempotency-Key': key } },
        body: amount === undefined ? {} : { amount },
      }),
    );
  }

  /**
   * Follows an order's live status (GET /v1/orders/{id}/events) on a connection of its own, from
   * this client's address. The answer's status, media type and headers are held against the
   * documents at once; a problem's body once it has come.
   */
  async follow(token: string, orderId: string, opts: { instance?: number; lastEventId?: string } = {}): Promise<EventStreamReader> {
    const path = `/v1/orders/${orderId}/events`;
    const headers: Record<string, string> = { 'x-forwarded-for': this.ip, authorization: `Bearer ${token}` };
    if (opts.lastEventId !== undefined) headers['last-event-id'] = opts.lastEventId;
    const reader = await readEventStream(`${this.base('order', opts.instance)}${path}`, headers);
    if (this.checkAnswers) {
      const head = new Headers(Object.entries(reader.headers).map(([name, value]) => [name, String(value)] as [string, string]));
      const text = reader.status === 200 ? '(a stream)' : await reader.text();
      await expectDocumented(this.topology, 'order', 'GET', path, { status: reader.status, headers: head, body: undefined, text });
    }
    return reader;
  }

  /** The sandbox's own record of an order's charges: where the money really moved. */
  async charges(orderId: string): Promise<{ id: string; amount: number; status: string; refundedAmount: number }[]> {
    const { data: charges, response } = await this.api().sandbox.GET('/v1/charges', { params: { query: { orderId } } });
    if (!charges) throw new Error(`sandbox charges answered ${response.status}: ${this.textOf(response)}`);
    return charges.data;
  }

  /** The text of a typed call's answer, for messages. */
  private textOf(response: Response): string {
    return this.answers.get(response)?.text ?? '';
  }
}

/** Polls until check() answers truthy or the time is up; answers the last value. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 5_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined as T);
    if (value || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
