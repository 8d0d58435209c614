import { Cluster } from 'ioredis';
import type { RedisClient } from './client';
import { GCRA_FUNCTION_LUA, type RateLimiter, type RateLimitResult } from './rate-limiter';
import type { Revocation, RevocationQuery } from './revocation';
import { defineScripts } from './scripts';

/**
 * A signed-in request's admission in one Redis command: the token's revocation marks, one
 * rate-limit step for its user when the token is not revoked, and the route's own reads (e.g.
 * its cache entry), so that a cached read costs one command in all. The marks and the user's
 * limit share the `{user:<id>}` hash tag, so on Redis Cluster the script runs on that node;
 * the route's keys live elsewhere there, so on a cluster they are not read here and the route
 * reads them itself. A revoked token takes nothing from its user's budget (whoever holds it
 * may not be the user): the caller counts it against the address it came from instead.
 */
export interface Admission {
  check(query: RevocationQuery, policy: string, reads?: readonly string[]): Promise<AdmissionAnswer>;
}

export interface AdmissionAnswer {
  revoked: boolean;
  /** The user's limit; undefined for a revoked token, which took no step. */
  limit?: RateLimitResult;
  /**
   * The values of `reads`, in order (null for a missing key); undefined when they were not read
   * (a cluster, a revoked token, Redis failing). Read before the token was known to be good:
   * use them only for a request that goes on.
   */
  reads?: (string | null)[];
}

/** Exported for bench:http's reference server, which runs the very same Lua. */
export const ADMISSION_LUA = `${GCRA_FUNCTION_LUA}
-- KEYS: the revocation keys (ARGV[1] of them: token, session, cutoff, then the marker on a
-- standalone Redis), then the user's limit key unless ARGV[3] is '0', then the route's reads
-- (ARGV[5] of them).
-- ARGV: how many revocation keys; the token's issue time in ms; the limit's interval and
-- capacity in ms ('0' when the local deny cache answered and no step is needed); how many reads.
-- Returns the revocation values, the limit's answer (false when no step was taken), then the reads.
local n = tonumber(ARGV[1])
local out = redis.call('MGET', unpack(KEYS, 1, n))
-- revocation.ts decides from the values; this only spares a revoked token's user the step.
local revoked = out[1] or out[2] or (out[3] and tonumber(ARGV[2]) <= tonumber(out[3]))
if revoked or ARGV[3] == '0' then
  out[n + 1] = false
else
  out[n + 1] = gcra(KEYS[n + 1], tonumber(ARGV[3]), tonumber(ARGV[4]))
end
for i = #KEYS - tonumber(ARGV[5]) + 1, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) end
return out
`;

const ADMIT = 'platformAdmit';

type WithAdmit = { [ADMIT](numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<(string | number | null)[]> };

export function createAdmission(opts: { client: RedisClient; revocation: Revocation; limiter: RateLimiter }): Admission {
  const { revocation, limiter } = opts;
  const joinsReads = !(opts.client instanceof Cluster);
  // No numberOfKeys: the key count is the call's first argument, as it varies with the marker.
  const scripts = defineScripts<WithAdmit>(opts.client, { [ADMIT]: { lua: ADMISSION_LUA } });

  async function check(query: RevocationQuery, policy: string, routeReads: readonly string[] = []): Promise<AdmissionAnswer> {
    const marks = revocation.prepare(query);
    const limit = limiter.prepare(policy, `user:${query.userId}`);
    const reads = joinsReads ? routeReads : [];
    const keys = [...marks.keys, ...(limit.step ? [limit.step.key] : []), ...reads];
    const args = [marks.keys.length, query.issuedAtMs, limit.step?.intervalMs ?? 0, limit.step?.capacityMs ?? 0, reads.length];
    let values: (string | number | null)[];
    try {
      values = await scripts[ADMIT](keys.length, ...keys, ...args);
    } catch (err) {
      // The fail modes decide: revocation's throws when closed, the limit's lets through when open.
      return { revoked: marks.decide(undefined, err), limit: limit.settle(undefined, err) };
    }
    const n = marks.keys.length;
    if (marks.decide(values.slice(0, n) as (string | null)[])) return { revoked: true };
    const answer = { revoked: false, limit: limit.settle((values[n] ?? undefined) as number | undefined) };
    return joinsReads && routeReads.length > 0 ? { ...answer, reads: values.slice(n + 1) as (string | null)[] } : answer;
  }

  return Object.freeze({ check });
}
