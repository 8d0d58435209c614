/**
 * Every Redis key the platform writes is built here, so prefixes, hash tags and
 * naming stay consistent. Keys that one Lua script touches together share a hash
 * tag (`{...}`), so they land in the same slot on Redis Cluster.
 *
 * Layout: `<prefix><area>:{<tag>}[:<part>]`, e.g. `order:cache:{order:0190…}` and
 * `order:cache:{order:0190…}:gen`. The prefix comes from REDIS_KEY_PREFIX
 * (`user:`, `order:`, `payment:` by default).
 */
export interface KeySpace {
  readonly prefix: string;
  /** Cached value and its generation counter (read-your-writes). */
  cache(name: string): { value: string; generation: string; fill: string };
  /**
   * A revoked access token. Tagged `{user:<id>}`, like the user's revoked sessions, cutoff
   * and rate-limit state (subject `user:<id>`), so one script checks them all on one node.
   */
  revokedToken(userId: string, jti: string): string;
  /** A revoked sign-in session (refresh-token family): every access token carrying its `sid`. */
  revokedSession(userId: string, sessionId: string): string;
  /** Tokens of the user issued at or before this time are revoked. */
  revokedBefore(userId: string): string;
  /** A rate limiter's state for one policy and one subject (`user:<id>` or `ip:<address>`), tagged by subject. */
  rateLimit(policy: string, subject: string): string;
  /** Recent failures of one subject (e.g. logins of an account) and its lockout marker. */
  failures(name: string, subject: string): { log: string; lock: string };
  /** An idempotency record for one scope (user + route) and client key. */
  idempotency(scope: string, key: string): string;
  /** A lock and its fencing counter. */
  lock(name: string): { lock: string; fence: string };
  /**
   * An event stream, its dead-letter stream, and the publishers' marker (with a TTL) whose
   * absence tells them Redis lost its data. Streams are the only keys without a TTL.
   */
  stream(name: string): { stream: string; deadLetter: string; marker: string };
  /** Written by user-service once Redis holds every revocation still in force (see revocation.ts). */
  revocationMarker(): string;
  /** The leases one subject holds of a bounded resource (e.g. open streams of `user:<id>`), tagged by subject. */
  leases(name: string, subject: string): string;
  /** "This user wrote just now" (read-your-writes over MySQL replicas; write-marks.ts), tagged like the user's other keys. */
  wrote(userId: string): string;
  /** A pub/sub channel; channels are not keys, but share the prefix so deployments sharing a Redis stay apart. */
  channel(name: string): string;
}

/** Hash tags must not contain braces; anything else a caller passes stays readable. */
function tag(value: string): string {
  // On every request path: skip the regex in the usual case of no braces at all.
  return value.includes('{') || value.includes('}') ? `{${value.replace(/[{}]/g, '_')}}` : `{${value}}`;
}

export function keySpace(prefix: string): KeySpace {
  const k = (area: string, tagged: string, part?: string) => `${prefix}${area}:${tag(tagged)}${part ? `:${part}` : ''}`;
  return Object.freeze({
    prefix,
    cache: (name: string) => ({ value: k('cache', name), generation: k('cache', name, 'gen'), fill: k('cache', name, 'fill') }),
    revokedToken: (userId: string, jti: string) => k('rev', `user:${userId}`, `jti:${jti}`),
    revokedSession: (userId: string, sessionId: string) => k('rev', `user:${userId}`, `sid:${sessionId}`),
    revokedBefore: (userId: string) => k('rev', `user:${userId}`, 'before'),
    revocationMarker: () => k('rev', 'marker'),
    rateLimit: (policy: string, subject: string) => k('rl', subject, policy),
    failures: (name: string, subject: string) => ({ log: k('fail', `${name}:${subject}`), lock: k('fail', `${name}:${subject}`, 'lock') }),
    idempotency: (scope: string, key: string) => k('idem', `${scope}:${key}`),
    lock: (name: string) => ({ lock: k('lock', name), fence: k('lock', name, 'fence') }),
    stream: (name: string) => ({ stream: k('stream', name), deadLetter: k('stream', name, 'dead'), marker: k('stream', name, 'marker') }),
    leases: (name: string, subject: string) => k('lease', subject, name),
    wrote: (userId: string) => k('wrote', `user:${userId}`),
    channel: (name: string) => `${prefix}channel:${name}`,
  });
}
