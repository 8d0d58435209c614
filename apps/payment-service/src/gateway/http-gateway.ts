import { httpAgent, REQUEST_ID_HEADER } from '@platform/service-kit';
import { request } from 'undici';
import type { ChargeOutcome, ChargeRequest, PaymentGateway, RefundOutcome, RefundRequest } from './gateway';

export interface HttpGatewayOptions {
  /** The provider's base URL (PAYMENT_GATEWAY_URL). */
  baseUrl: string;
  /** Opening a connection (GATEWAY_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs: number;
  /** Per attempt: waiting for the response headers, and then for each piece of the body (GATEWAY_TIMEOUT_MS). */
  timeoutMs: number;
  /** Attempts of one call, the first included, on network errors, timeouts and 5xx. */
  maxAttempts: number;
  /** First pause between attempts; doubled each time, with jitter. */
  backoffMs?: number;
}

interface ProviderCharge {
  id: string;
  reference?: string | null;
  status: 'succeeded' | 'failed';
  failureCode?: string | null;
}

interface ProviderProblem {
  code?: string;
  detail?: string;
  charge?: ProviderCharge;
}

/** One attempt's answer: a status and its JSON body, or undefined when no answer came. */
type Answer = { status: number; body: unknown } | undefined;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The provider's 502 `GATEWAY_ERROR` means it processed nothing (the contract's
 * `tok_gatewayError`). A 502 without that body (a proxy's) says nothing about the charge.
 */
function saidNothingMoved(answer: { status: number; body: unknown }): boolean {
  return answer.status === 502 && (answer.body as ProviderProblem | undefined)?.code === 'GATEWAY_ERROR';
}

/** No answer, or one that says nothing final: the same call may be sent again with the same key. */
function retryable(answer: Answer): boolean {
  return answer === undefined || (answer.status >= 500 && !saidNothingMoved(answer));
}

function chargeOutcome(charge: ProviderCharge): ChargeOutcome {
  return charge.status === 'succeeded'
    ? { kind: 'succeeded', chargeId: charge.id }
    : { kind: 'declined', chargeId: charge.id, failureCode: charge.failureCode ?? 'CARD_DECLINED' };
}

/**
 * The provider over HTTP, on keep-alive connections of its own. A call is sent up to
 * `maxAttempts` times with the same idempotency key while no final answer comes (network
 * error, timeout, 5xx): the provider answers a repeated key with the first result, so retries
 * never charge twice. When every attempt went unanswered, a charge is looked up at the
 * provider by its reference before anything is decided (reconcile); only then is it `unknown`.
 * `close()` closes the connections once the calls in flight are done.
 */
export function httpGateway(opts: HttpGatewayOptions): PaymentGateway & { close(): Promise<void> } {
  const agent = httpAgent({ connectTimeoutMs: opts.connectTimeoutMs, timeoutMs: opts.timeoutMs });
  const backoffMs = opts.backoffMs ?? 100;

  async function call(method: 'GET' | 'POST', path: string, init: { key?: string; body?: object; requestId?: string }): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (init.body) headers['content-type'] = 'application/json';
    if (init.key) headers['idempotency-key'] = init.key;
    if (init.requestId) headers[REQUEST_ID_HEADER] = init.requestId;
    try {
      const res = await request(new URL(path, opts.baseUrl), {
        dispatcher: agent,
        method,
        headers,
        body: init.body ? JSON.stringify(init.body) : undefined,
      });
      const text = await res.body.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      return { status: res.statusCode, body };
    } catch {
      return undefined; // refused, reset or timed out: no answer
    }
  }

  /** Sends the call until it gets a final answer or runs out of attempts. */
  async function send(path: string, key: string, body: object, requestId?: string): Promise<Answer> {
    let answer: Answer;
    for (let attempt = 1; attempt <= opts.maxAttempts; attempt++) {
      answer = await call('POST', path, { key, body, requestId });
      if (!retryable(answer)) return answer;
      if (attempt < opts.maxAttempts) await sleep(backoffMs * 2 ** (attempt - 1) * (0.5 + Math.random()));
    }
    return answer;
  }

  function describe(answer: Answer): string {
    if (!answer) return 'the provider did not answer';
    const problem = answer.body as ProviderProblem | undefined;
    return `the provider answered ${answer.status}${problem?.code ? ` ${problem.code}` : ''}`;
  }

  async function findCharge(orderId: string, reference: string, requestId?: string): Promise<ChargeOutcome | { kind: 'absent' }> {
    const answer = await call('GET', `/v1/charges?orderId=${encodeURIComponent(orderId)}`, { requestId });
    if (answer?.status !== 200) return { kind: 'unknown', detail: `reconcile: ${describe(answer)}` };
    const charges = (answer.body as { data?: ProviderCharge[] } | undefined)?.data ?? [];
    const found = charges.find((c) => c.reference === reference);
    return found ? chargeOutcome(found) : { kind: 'absent' };
  }

  /** The answers of a charge, which a cancel replays when the charge ran. */
  function chargeAnswer(answer: Answer): ChargeOutcome | undefined {
    if (answer && answer.status === 201) return chargeOutcome(answer.body as ProviderCharge);
    if (answer && answer.status === 402) {
      const problem = answer.body as ProviderProblem;
      return { kind: 'declined', chargeId: problem.charge?.id ?? null, failureCode: problem.code ?? 'CARD_DECLINED' };
    }
    if (answer && !retryable(answer)) {
      // Said nothing moved (502 GATEWAY_ERROR), or refused the request (an unknown token).
      const problem = answer.body as ProviderProblem | undefined;
      return { kind: 'rejected', code: problem?.code ?? `HTTP_${answer.status}`, detail: describe(answer) };
    }
    return undefined;
  }

  return Object.freeze({
    findCharge,

    async cancelCharge(key: string, requestId?: string): Promise<ChargeOutcome | { kind: 'cancelled' }> {
      const answer = await send('/v1/charges/cancel', key, {}, requestId);
      if (answer?.status === 409 && (answer.body as ProviderProblem | undefined)?.code === 'CHARGE_CANCELLED') return { kind: 'cancelled' };
      return chargeAnswer(answer) ?? { kind: 'unknown', detail: `cancel: ${describe(answer)}` };
    },

    close: () => agent.close(),

    async charge(req: ChargeRequest): Promise<ChargeOutcome> {
      const answer = await send(
        '/v1/charges',
        req.key,
        { amount: req.amount, currency: req.currency, token: req.token, orderId: req.orderId, reference: req.reference },
        req.requestId,
      );
      const final = chargeAnswer(answer);
      if (final) return final;
      // Unanswered after every attempt: ask the provider before deciding anything.
      const found = await findCharge(req.orderId, req.reference, req.requestId);
      if (found.kind === 'absent') return { kind: 'unknown', detail: `${describe(answer)}, and it has no charge ${req.reference} yet` };
      return found;
    },

    async refund(req: RefundRequest): Promise<RefundOutcome> {
      const answer = await send('/v1/refunds', req.key, { chargeId: req.chargeId, amount: req.amount, reference: req.reference }, req.requestId);
      if (answer && answer.status === 201) return { kind: 'succeeded', refundId: (answer.body as { id: string }).id };
      if (answer && !retryable(answer)) {
        const problem = answer.body as ProviderProblem | undefined;
        return { kind: 'rejected', code: problem?.code ?? `HTTP_${answer.status}`, detail: describe(answer) };
      }
      // A refund is sent again with the same key later (it is kept PENDING), so no lookup is needed.
      return { kind: 'unknown', detail: describe(answer) };
    },
  });
}
