import { HttpProblem } from '@platform/service-kit';
import { createHash } from 'node:crypto';

/** How one run of a request ended: what it returned, or what it threw. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface Keyed<T> {
  outcome: Outcome<T>;
  /** This request ran the work itself (it was the first with its key). */
  ran: boolean;
  /** The outcome is the one stored for the key, so a retry gets it again. */
  kept: boolean;
}

interface Entry {
  fingerprint: string;
  /** Settles once; until then later requests with the key wait on it. */
  outcome: Promise<Outcome<unknown>>;
  expiresAt: number;
}

/** The fingerprint of a closed key: its answer goes to any body. */
const ANY_BODY = '*';

/** At most as many kept answers as the ledger keeps charges (LEDGER_DEFAULTS): about 50 MB of heap when full. */
export const KEY_DEFAULTS = Object.freeze({ ttlMs: 24 * 60 * 60 * 1000, maxEntries: 50_000 });

/**
 * Answers a provider keeps for a key, as Stripe does: successes and the 4xx it decided
 * (declined, not found, conflict, unknown token). Never 5xx: that request may run again.
 * Schema-validation 400s never get here; they are refused before the handler.
 */
function keeps(outcome: Outcome<unknown>): boolean {
  return outcome.ok || (outcome.error instanceof HttpProblem && outcome.error.status < 500);
}

/** The body with its keys sorted (the bodies here are flat), so `{a,b}` and `{b,a}` are one request. */
export function fingerprint(body: object): string {
  return createHash('sha256').update(JSON.stringify(body, Object.keys(body).sort())).digest('hex');
}

/**
 * Idempotency keys in memory, per scope (route). The entry is taken synchronously before
 * the work starts, so of concurrent requests with one key exactly one runs it and the
 * others wait for its outcome. Expired entries are pruned lazily, oldest first, and the
 * map never holds more than `maxEntries` (the oldest go first).
 */
export class IdempotencyKeys {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: { ttlMs: number; maxEntries: number } = KEY_DEFAULTS) {}

  async run<T>(scope: string, key: string, print: string, work: () => Promise<T>): Promise<Keyed<T>> {
    this.prune();
    const id = `${scope}\n${key}`;
    const existing = this.entries.get(id);
    if (existing) {
      if (existing.fingerprint !== print && existing.fingerprint !== ANY_BODY) {
        throw new HttpProblem({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED', detail: 'This Idempotency-Key was used with another request body.' });
      }
      const outcome = (await existing.outcome) as Outcome<T>;
      return { outcome, ran: false, kept: keeps(outcome) };
    }
    const entry: Entry = { fingerprint: print, outcome: settle(work), expiresAt: Date.now() + this.opts.ttlMs };
    this.entries.set(id, entry);
    const outcome = (await entry.outcome) as Outcome<T>;
    const kept = keeps(outcome);
    if (!kept && this.entries.get(id) === entry) this.entries.delete(id);
    return { outcome, ran: true, kept };
  }

  /**
   * Closes a key for good, unless a request with it has run to a kept answer: then that answer
   * (the caller's to read). Otherwise `closed` becomes the key's kept answer, which every later
   * request with the key gets, whatever its body, without running. A request with the key still
   * running is waited for first, so the answer is final either way.
   */
  async close(scope: string, key: string, closed: HttpProblem): Promise<{ outcome: Outcome<unknown>; closedNow: boolean }> {
    this.prune();
    const id = `${scope}\n${key}`;
    for (;;) {
      const existing = this.entries.get(id);
      if (!existing) break;
      const outcome = await existing.outcome;
      if (keeps(outcome)) return { outcome, closedNow: false };
      // It failed with a 5xx (nothing kept, entry gone) and nothing else took the key since: close it.
      if (this.entries.get(id) === existing) this.entries.delete(id);
    }
    this.entries.set(id, { fingerprint: ANY_BODY, outcome: Promise.resolve({ ok: false, error: closed }), expiresAt: Date.now() + this.opts.ttlMs });
    return { outcome: { ok: false, error: closed }, closedNow: true };
  }

  get size(): number {
    return this.entries.size;
  }

  private prune(): void {
    const now = Date.now();
    // Insertion order is expiry order: stop at the first entry still live.
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt > now && this.entries.size < this.opts.maxEntries) break;
      this.entries.delete(id);
    }
  }
}

async function settle<T>(work: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error };
  }
}
