import { HttpProblem } from '@platform/service-kit';
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, type Registry } from 'prom-client';
import { fingerprint, IdempotencyKeys } from './idempotency';
import { Ledger, type FailureCode } from './ledger';
import { ledgerProblems } from './routes/problems';
import type { ChargeView, CreateChargeBody, CreateRefundBody, RefundView } from './schemas';

/** What each test token does (Stripe test mode); any other `tok_…` is an INVALID_TOKEN. */
const TOKENS: Readonly<Record<string, FailureCode | null | 'GATEWAY_ERROR'>> = Object.freeze({
  tok_visa: null,
  tok_mastercard: null,
  tok_chargeDeclined: 'CARD_DECLINED',
  tok_chargeDeclinedInsufficientFunds: 'INSUFFICIENT_FUNDS',
  tok_gatewayError: 'GATEWAY_ERROR',
});

const DECLINED: Readonly<Record<FailureCode, string>> = Object.freeze({
  CARD_DECLINED: 'The card was declined.',
  INSUFFICIENT_FUNDS: 'The card has insufficient funds.',
});

type Operation = 'charge' | 'refund';

export interface SandboxOptions {
  latencyMs: number;
  /** The chance (0..1) that a POST which runs fails with 500, half before and half after its work. */
  failureRate: number;
  registry: Registry;
}

/** A POST's answer: the value to send, and whether it is the replay of a kept answer. */
export interface Answer<T> {
  value: T;
  replayed: boolean;
}

export type Sandbox = ReturnType<typeof createSandbox>;

/** The provider's behaviour behind its routes: latency, idempotency keys, injected failures, test tokens. */
export function createSandbox(opts: SandboxOptions) {
  const ledger = new Ledger();
  const keys = new IdempotencyKeys();
  const outcomes = counter(opts.registry, 'gateway_sandbox_requests_total', 'Charges and refunds run, by operation and outcome', ['operation', 'outcome']);
  const injected = counter(opts.registry, 'gateway_sandbox_injected_failures_total', 'GATEWAY_FAILURE_RATE failures, by operation and phase', ['operation', 'phase']);
  const replays = counter(opts.registry, 'gateway_sandbox_idempotent_replays_total', 'Answers replayed for an Idempotency-Key', ['operation']);

  const injectedFailure = (operation: Operation, phase: 'before' | 'after') => {
    injected.inc({ operation, phase });
    return new HttpProblem({ status: 500, code: 'GATEWAY_ERROR', detail: 'The provider failed (simulated by GATEWAY_FAILURE_RATE).' });
  };

  /**
   * The latency is spent holding the key, so a retry sent meanwhile waits for this request's
   * answer instead of running again; a replay is answered at once.
   */
  async function post<T>(operation: Operation, key: string, body: object, work: () => T): Promise<Answer<T>> {
    const failure = Math.random() < opts.failureRate ? (Math.random() < 0.5 ? 'before' : 'after') : null;
    const { outcome, ran, kept } = await keys.run(operation, key, fingerprint(body), async () => {
      if (opts.latencyMs > 0) await sleep(opts.latencyMs);
      if (failure === 'before') throw injectedFailure(operation, 'before');
      return work();
    });
    if (ran && failure !== 'before') outcomes.inc({ operation, outcome: outcomeLabel(outcome) });
    if (!ran && kept) replays.inc({ operation });
    // The work is done and its answer kept for the key; only this request's client loses it.
    if (ran && kept && failure === 'after') throw injectedFailure(operation, 'after');
    const replayed = !ran && kept;
    if (outcome.ok) return { value: outcome.value, replayed };
    throw replayed && outcome.error instanceof HttpProblem ? markReplayed(outcome.error) : outcome.error;
  }

  /**
   * Makes a charge's outcome final for its key: the charge's own answer when it ran (waiting for
   * one in flight), or CHARGE_CANCELLED, which closes the key so that a charge with it arriving
   * later never runs. What a provider's "cancel the payment intent" does.
   */
  async function cancelCharge(key: string): Promise<Answer<ChargeView>> {
    const { outcome, closedNow } = await keys.close('charge', key, cancelled());
    if (closedNow) outcomes.inc({ operation: 'charge', outcome: 'cancelled' });
    if (outcome.ok) return { value: outcome.value as ChargeView, replayed: true };
    throw !closedNow && outcome.error instanceof HttpProblem ? markReplayed(outcome.error) : outcome.error;
  }

  return {
    ledger,
    charge: (key: string, body: CreateChargeBody): Promise<Answer<ChargeView>> => post('charge', key, body, () => charge(ledger, body)),
    cancelCharge,
    refund: (key: string, body: CreateRefundBody): Promise<Answer<RefundView>> => post('refund', key, body, () => answered(() => ledger.refund(body))),
  };
}

function charge(ledger: Ledger, body: CreateChargeBody): ChargeView {
  const behaviour = Object.hasOwn(TOKENS, body.token) ? TOKENS[body.token] : undefined;
  if (behaviour === undefined) throw new HttpProblem({ status: 400, code: 'INVALID_TOKEN', detail: 'No such test token.' });
  if (behaviour === 'GATEWAY_ERROR') {
    throw new HttpProblem({ status: 502, code: 'GATEWAY_ERROR', detail: 'The card network could not be reached; nothing was charged.' });
  }
  const recorded = ledger.charge(body, behaviour);
  if (behaviour === null) return recorded;
  throw new HttpProblem({ status: 402, code: behaviour, detail: DECLINED[behaviour], extensions: { charge: recorded } });
}

function cancelled(): HttpProblem {
  return new HttpProblem({
    status: 409,
    code: 'CHARGE_CANCELLED',
    detail: 'The charge with this Idempotency-Key was cancelled before it ran; nothing was charged, and it never will be.',
  });
}

/** The ledger's refusal as the provider's answer, which is what the key keeps and replays. */
function answered<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    const problem = ledgerProblems(err);
    throw problem ? new HttpProblem(problem) : err;
  }
}

function markReplayed(problem: HttpProblem): HttpProblem {
  const { status, code, errors, extensions, headers } = problem;
  return new HttpProblem({ status, code, detail: problem.message, errors, extensions, headers: { ...headers, 'idempotent-replayed': 'true' } });
}

function outcomeLabel(outcome: { ok: boolean; error?: unknown }): string {
  if (outcome.ok) return 'succeeded';
  return outcome.error instanceof HttpProblem ? outcome.error.code.toLowerCase() : 'internal_error';
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}
