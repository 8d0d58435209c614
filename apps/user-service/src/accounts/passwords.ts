import { randomBytes } from 'node:crypto';
import { hash, verify, type Algorithm } from '@node-rs/argon2';

/**
 * argon2id with OWASP's Password Storage Cheat Sheet parameters (19 MiB, 2 passes, 1 lane).
 * @node-rs/argon2 ships prebuilt binaries and hashes on libuv's thread pool, off the event loop.
 */
export const ARGON2_PARAMS = Object.freeze({
  // Algorithm.Argon2id (2): the package exports a const enum, which isolatedModules cannot inline.
  algorithm: 2 as Algorithm,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
});

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_PARAMS);
}

/**
 * A hash of a password nobody knows, made once per process with the same parameters, so a
 * login for an unknown email spends the same work as one with a wrong password.
 */
let dummyHash: Promise<string> | undefined;
const dummy = () => (dummyHash ??= hashPassword(randomBytes(32).toString('base64url')));

/** Verifies `password` against `stored`, or against the dummy hash when there is no account. */
export async function verifyPassword(stored: string | undefined, password: string): Promise<boolean> {
  const target = stored ?? (await dummy());
  const ok = await verify(target, password).catch(() => false);
  return stored !== undefined && ok;
}

/** Call at start so the first login for an unknown email does not pay for making the dummy hash. */
export function warmUpPasswords(): Promise<unknown> {
  return dummy();
}
