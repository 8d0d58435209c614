import type { Registry } from 'prom-client';
import type { RedisClient } from './client';
import { RateLimitedError, RedisUnavailableError } from './errors';
import type { KeySpace } from './keys';
import { counter } from './metrics';
import { defineScripts, logThrottle } from './scripts';
import type { FailMode, WarnLogger } from './revocation';

/**
 * Named rate-limit policies enforced with GCRA (generic cell rate algorithm): one key
 * per policy and subject, one script call per check, two commands inside it.
 *
 * A policy of `limit` per `windowSeconds` admits a burst of `limit` at once and then one
 * request every `windowSeconds / limit`; unlike a fixed window it never admits a second
 * full burst just after a window boundary: in any span of t seconds it admits at most
 * `limit + t / (windowSeconds / limit)` requests. The state is a single timestamp, the
 * theoretical arrival time (TAT), kept as the key's own expiry: `PTTL` reads it on the
 * Redis server's clock (so every instance agrees, whatever its own clock says, without a
 * TIME call) and the key vanishes exactly when it stops mattering.
 */

export interface RateLimitPolicy {
  limit: number;
  windowSeconds: number;
  /** When Redis cannot answer: `open` lets the request through, `closed` throws RedisUnavailableError. */
  failMode: FailMode;
}

export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  /** Requests that would still be allowed right now. */
  remaining: number;
  /** Seconds until the full quota is back. */
  resetSeconds: number;
  /** Seconds until a request would be allowed; 0 when this one was. */
  retryAfterSeconds: number;
  /** Redis did not answer and the policy failed open: the figures are not known. */
  degraded?: true;
}

export interface RateLimiterOptions<P extends string> {
  client: RedisClient;
  keys: KeySpace;
  policies: Readonly<Record<P, RateLimitPolicy>>;
  registry?: Registry;
  logger?: WarnLogger;
  /** Subjects denied locally at most; the oldest entry goes first when it is full. */
  denyCacheSize?: number;
}

export interface RateLimiter<P extends string = string> {
  readonly policies: Readonly<Record<P, Readonly<RateLimitPolicy>>>;
  check(policy: P, subject: string): Promise<RateLimitResult>;
  /** `check` for code outside a route hook: a refusal throws RateLimitedError. */
  enforce(policy: P, subject: string): Promise<RateLimitResult>;
  /**
   * The check as part of another script (admission.ts), which runs `gcra` (GCRA_FUNCTION_LUA)
   * on the step's key and arguments and hands the answer to `settle`.
   */
  prepare(policy: P, subject: string): PreparedLimit;
}

export interface PreparedLimit {
  /** What the script runs; undefined when the local deny cache answers and Redis need not be asked. */
  step?: { key: string; intervalMs: number; capacityMs: number };
  /** The result from the step's answer; with `failure`, Redis could not answer (the policy's fail mode decides). */
  settle(answer: number | undefined, failure?: unknown): RateLimitResult;
}

export const RATE_LIMITER_DEFAULTS = Object.freeze({ denyCacheSize: 10_000 });

/**
 * One GCRA step as a Lua function, for this limiter's own script and for scripts that check a
 * limit among other things (admission.ts).
 * gcra(key, interval, capacity): key is the subject's state, its expiry the TAT, its value
 * unused; interval is the emission interval in ms (the cost of one request), capacity is
 * limit * interval (how far the TAT may run ahead of now). Returns one integer, cheaper to
 * build and parse than a table: TAT - now in ms after this request when allowed
 * (>= interval > 0), or -(TAT - now) - 1 when refused (< 0).
 */
export const GCRA_FUNCTION_LUA = `
local function gcra(key, interval, capacity)
  -- -2 (no key: a full quota) and -1 (no expiry, never written by this script) both count as now.
  local pttl = redis.call('PTTL', key)
  local ahead = pttl
  if ahead < 0 then ahead = 0 end
  local nextAhead = ahead + interval
  if nextAhead > capacity then
    return -ahead - 1
  end
  -- An existing key only moves its expiry (no new value object on the server); only a
  -- missing one (-2) is created. -1 cannot happen for our keys, but SET repairs it too.
  if pttl > 0 then
    redis.call('PEXPIRE', key, nextAhead)
  else
    redis.call('SET', key, '1', 'PX', nextAhead)
  end
  return nextAhead
end
`;

/** One check of one subject. */
const GCRA_LUA = `${GCRA_FUNCTION_LUA}
-- KEYS[1]: the subject's state. ARGV: interval and capacity in ms.
return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
`;

const GCRA = 'platformRateLimitGcra';

type WithGcra = { [GCRA](key: string, intervalMs: number, capacityMs: number): Promise<number> };

interface Cost {
  /**
   * Rounded up to whole ms (PX takes integers): the sustained rate may come out a hair
   * below the policy's, never above it.
   */
  intervalMs: number;
  capacityMs: number;
}

function costOf(name: string, policy: RateLimitPolicy): Cost {
  if (!Number.isInteger(policy.limit) || policy.limit < 1 || !(policy.windowSeconds > 0)) {
    throw new RangeError(`rate-limit policy "${name}" needs an integer limit >= 1 and a positive window`);
  }
  const intervalMs = Math.ceil((policy.windowSeconds * 1000) / policy.limit);
  return { intervalMs, capacityMs: intervalMs * policy.limit };
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/** What the script's answer means for the caller, in the units of the RateLimit fields. */
function resultOf(policy: RateLimitPolicy, cost: Cost, allowed: boolean, aheadMs: number): RateLimitResult {
  const waitMs = aheadMs + cost.intervalMs - cost.capacityMs;
  return {
    allowed,
    limit: policy.limit,
    remaining: Math.max(0, Math.floor((cost.capacityMs - aheadMs) / cost.intervalMs)),
    resetSeconds: seconds(aheadMs),
    retryAfterSeconds: allowed ? 0 : Math.max(1, seconds(waitMs)),
  };
}

interface Denial {
  retryAt: number;
  resetAt: number;
}

/**
 * Subjects known to be over their limit, until their retry time: checks for them are
 * denied without a round trip (a client hammering after a 429 costs Redis nothing).
 * Denying locally can only ever admit fewer requests, so the limit stays exact.
 */
class DenyCache {
  private readonly entries = new Map<string, Denial>();

  constructor(private readonly size: number) {}

  get empty(): boolean {
    return this.entries.size === 0;
  }

  get(key: string, now: number): Denial | undefined {
    const denial = this.entries.get(key);
    if (denial && denial.retryAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return denial;
  }

  set(key: string, denial: Denial): void {
    this.entries.delete(key);
    if (this.entries.size >= this.size) {
      // Map order is insertion order: the first entry is the oldest.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, denial);
  }
}

export function createRateLimiter<P extends string>(opts: RateLimiterOptions<P>): RateLimiter<P> {
  const { keys } = opts;
  const scripts = defineScripts<WithGcra>(opts.client, { [GCRA]: { numberOfKeys: 1, lua: GCRA_LUA } });
  const names = Object.keys(opts.policies) as P[];
  const policies = Object.freeze(Object.fromEntries(names.map((n) => [n, Object.freeze({ ...opts.policies[n] })]))) as Record<P, RateLimitPolicy>;
  const costs = new Map(names.map((n) => [n, costOf(n, policies[n])] as const));
  const denied = new DenyCache(opts.denyCacheSize ?? RATE_LIMITER_DEFAULTS.denyCacheSize);
  const rejections = counter(opts.registry, 'rate_limit_rejections_total', 'Requests refused by a rate limit, by policy.', ['policy']);
  const localDenials = counter(opts.registry, 'rate_limit_local_denials_total', 'Refusals answered from the local deny cache, by policy.', [
    'policy',
  ]);
  const failures = counter(opts.registry, 'rate_limit_redis_errors_total', 'Rate-limit checks Redis could not answer, by policy and fail mode.', [
    'policy',
    'fail_mode',
  ]);
  const throttle = logThrottle();

  function failed(name: P, policy: RateLimitPolicy, err: unknown): RateLimitResult {
    failures.inc({ policy: name, fail_mode: policy.failMode });
    const { log, suppressed } = throttle();
    if (log) opts.logger?.warn({ err, policy: name, failMode: policy.failMode, suppressed }, 'rate-limit check failed: Redis unavailable');
    if (policy.failMode === 'closed') throw new RedisUnavailableError(`rate limit ${name}`, { cause: err });
    return { allowed: true, limit: policy.limit, remaining: policy.limit, resetSeconds: 0, retryAfterSeconds: 0, degraded: true };
  }

  function deniedLocally(name: P, policy: RateLimitPolicy, denial: Denial, now: number): RateLimitResult {
    localDenials.inc({ policy: name });
    rejections.inc({ policy: name });
    return {
      allowed: false,
      limit: policy.limit,
      remaining: 0,
      resetSeconds: seconds(denial.resetAt - now),
      retryAfterSeconds: Math.max(1, seconds(denial.retryAt - now)),
    };
  }

  function lookup(name: P, subject: string) {
    const policy = policies[name];
    const cost = costs.get(name);
    if (!policy || !cost) throw new RangeError(`unknown rate-limit policy "${String(name)}"`);
    const key = keys.rateLimit(name, subject);
    return { policy, cost, key, known: denied.empty ? undefined : denied.get(key, Date.now()) };
  }

  function check(name: P, subject: string): Promise<RateLimitResult> {
    let found: ReturnType<typeof lookup>;
    try {
      found = lookup(name, subject);
    } catch (err) {
      return Promise.reject(err);
    }
    const { policy, cost, key, known } = found;
    if (known) return Promise.resolve(deniedLocally(name, policy, known, Date.now()));
    return scripts[GCRA](key, cost.intervalMs, cost.capacityMs).then(
      (answer) => settle(name, policy, cost, key, answer),
      (err: unknown) => failed(name, policy, err),
    );
  }

  function prepare(name: P, subject: string): PreparedLimit {
    const { policy, cost, key, known } = lookup(name, subject);
    if (known) return { settle: () => deniedLocally(name, policy, known, Date.now()) };
    return {
      step: { key, intervalMs: cost.intervalMs, capacityMs: cost.capacityMs },
      settle: (answer, failure) =>
        failure !== undefined || answer === undefined ? failed(name, policy, failure ?? new Error('no answer')) : settle(name, policy, cost, key, answer),
    };
  }

  function settle(name: P, policy: RateLimitPolicy, cost: Cost, key: string, answer: number): RateLimitResult {
    const allowed = answer >= 0;
    const aheadMs = allowed ? answer : -answer - 1;
    const result = resultOf(policy, cost, allowed, aheadMs);
    if (!result.allowed) {
      rejections.inc({ policy: name });
      // Measured from the answer's arrival: late by half a round trip at most, so never early.
      const now = Date.now();
      denied.set(key, { retryAt: now + aheadMs + cost.intervalMs - cost.capacityMs, resetAt: now + aheadMs });
    }
    return result;
  }

  async function enforce(name: P, subject: string): Promise<RateLimitResult> {
    const result = await check(name, subject);
    if (!result.allowed) throw new RateLimitedError(name, result.retryAfterSeconds);
    return result;
  }

  return Object.freeze({ policies, check, enforce, prepare });
}
