import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * How one service vouches for a request it is making on a user's behalf while it answers that
 * user's request (payment-service reading the order it is about to charge): the user's token
 * travels as it came, with this header naming a secret the services share (PEER_SECRET). The
 * receiving pipeline still verifies the token, and takes the user from it, but runs no
 * admission of its own: the vouching service checked revocation and took the user's rate-limit
 * step for this request a moment ago, and a second step would count one request of the user's
 * twice against the one budget (CONTRACT.md, "Rate limits").
 */
export const PEER_HEADER = 'x-platform-peer';

/**
 * PEER_SECRET: one secret, or several comma-separated during a rotation (every one accepted, the
 * first sent). Unset: nothing is vouched for, and calls between the services are admitted as any
 * request is (and count against the user's budget).
 */
export function peerSecrets(value: string | undefined): readonly string[] {
  const secrets = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  // The deployment files ship stand-ins; a platform that starts with one trusts a published value.
  if (secrets.some((s) => s.includes('PLACEHOLDER'))) throw new Error('PEER_SECRET is still the deployment files’ placeholder: set a secret of your own');
  return secrets;
}

/** The header a service sends on a call it vouches for; none without a secret. */
export function vouching(secrets: readonly string[]): Record<string, string> {
  const [sent] = secrets;
  return sent === undefined ? {} : { [PEER_HEADER]: sent };
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Whether the request names one of `secrets`, compared in constant time (digests: equal lengths). */
export function peerChecker(secrets: readonly string[]): (headers: IncomingHttpHeaders) => boolean {
  const accepted = secrets.map(digest);
  return (headers) => {
    const given = headers[PEER_HEADER];
    if (typeof given !== 'string' || accepted.length === 0) return false;
    const d = digest(given);
    // Every secret is compared, matched or not, so the time says nothing about which.
    return accepted.reduce((found, s) => timingSafeEqual(s, d) || found, false);
  };
}
