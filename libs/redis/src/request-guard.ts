import { Cluster } from 'ioredis';
import { coalesceWrites, type RedisClient } from './client';
import { laneOf } from './command-lane';
import { GCRA_FUNCTION_LUA, type RateLimiter, type RateLimitResult } from './rate-limiter';
import type { Revocation, RevocationQuery } from './revocation';
import { rawScript, runScript } from './scripts';

/**
 * The Redis part of an authenticated, rate-limited request in ONE command: a script that
 * reads the revocation marks (MGET), takes the user's rate-limit step and reads what the
 * route declared (e.g. its cache entry). The marks and the limit share the `{user:<id>}` hash
 * tag, so on Redis Cluster the script runs on that node; the route's reads join it on a
 * standalone Redis only (their keys are tagged otherwise), and on a cluster the route reads
 * on its own.
 */
export interface RequestGuard {
  check(query: RevocationQuery, policy: string, prefetch?: Prefetch): Promise<GuardAnswer>;
  /**
   * The same check, answered to a callback: the request path's hooks then wait on no promise. The
   * error, when there is one, is the fail mode's (RedisUnavailableError when `closed`).
   */
  checkThen(query: RevocationQuery, policy: string, prefetch: Prefetch | undefined, callback: (err: Error | null, answer?: GuardAnswer) => void): void;
}

export interface GuardAnswer {
  revoked: boolean;
  limit: RateLimitResult;
}

/**
 * A route's reads ahead: GETs of `keys`, sent with the guard's script. `take` gets their values
 * in order (null for a missing key), or undefined when they were not read (Redis failed, or a
 * cluster). They run for a token that verified, before it is known to be unrevoked: what they
 * read may be used only if the request goes on.
 */
export interface Prefetch {
  keys: readonly string[];
  take(values: (string | null)[] | undefined): void;
}

/** The guard's script; exported for bench:http's hand-written reference, which runs the very same Lua. */
export const REQUEST_GUARD_LUA = `${GCRA_FUNCTION_LUA}
-- KEYS: the revocation keys (ARGV[1] of them), the rate-limit key unless ARGV[2] is '0', then the route's reads.
-- ARGV: how many revocation keys; the limit's interval and capacity in ms ('0' when the local deny cache answered).
-- Returns the revocation values, the limit's answer (false when not taken), then the route's values.
local marks = tonumber(ARGV[1])
local out = redis.call('MGET', unpack(KEYS, 1, marks))
local nextKey = marks + 1
if ARGV[2] ~= '0' then
  out[marks + 1] = gcra(KEYS[nextKey], tonumber(ARGV[2]), tonumber(ARGV[3]))
  nextKey = nextKey + 1
else
  out[marks + 1] = false
end
for i = nextKey, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) end
return out
`;

const GUARD = rawScript(REQUEST_GUARD_LUA);
const NO_READS: readonly string[] = Object.freeze([]);

/**
 * On a standalone Redis the script goes over the client's CommandLane (command-lane.ts), a
 * connection of its own that answers to callbacks; while the lane is not connected (at start-up,
 * after a drop), over the client itself, so a lane that fails costs speed, never an answer.
 */
export function createRequestGuard(opts: { client: RedisClient; revocation: Revocation; limiter: RateLimiter; onLaneError?: (err: Error) => void }): RequestGuard {
  const { client, revocation, limiter } = opts;
  const lane = client instanceof Cluster ? undefined : laneOf(client, opts.onLaneError);

  function checkThen(query: RevocationQuery, policy: string, prefetch: Prefetch | undefined, callback: (err: Error | null, answer?: GuardAnswer) => void): void {
    const marks = revocation.prepare(query);
    const limit = limiter.prepare(policy, `user:${query.userId}`);
    const reads = prefetch && lane ? prefetch.keys : NO_READS;
    const keys = limit.step ? [...marks.keys, limit.step.key, ...reads] : [...marks.keys, ...reads];
    const args = [marks.keys.length, limit.step?.intervalMs ?? 0, limit.step?.capacityMs ?? 0];
    const answer = (err: unknown, reply?: unknown) => {
      let result: GuardAnswer;
      try {
        if (err) {
          prefetch?.take(undefined);
          result = { revoked: marks.decide(undefined, err), limit: limit.settle(undefined, err) };
        } else {
          const values = reply as (string | number | null)[];
          const n = marks.keys.length;
          if (prefetch && lane) prefetch.take(values.slice(n + 1) as (string | null)[]);
          result = { revoked: marks.decide(values.slice(0, n) as (string | null)[]), limit: limit.settle((values[n] ?? undefined) as number | undefined) };
        }
      } catch (failure) {
        return callback(failure as Error);
      }
      callback(null, result);
    };
    if (lane?.ready) return lane.script(GUARD, keys, args, answer);
    // Concurrent requests' scripts share write system calls (client.ts).
    coalesceWrites(client);
    runScript(client, GUARD, keys, args).then((reply) => answer(null, reply), answer);
  }

  return Object.freeze({
    checkThen,
    check(query: RevocationQuery, policy: string, prefetch?: Prefetch) {
      return new Promise<GuardAnswer>((resolve, reject) => checkThen(query, policy, prefetch, (err, answer) => (err ? reject(err) : resolve(answer as GuardAnswer))));
    },
  });
}
