import { describeKeysWithoutTtl, keysWithoutTtl, settleKeyCheck } from './keys-without-ttl';

/**
 * Runs once, after every test file of the run has finished (jest runs global teardown
 * after the last test, never beside one), so it is where "no key without a TTL" is
 * checked for the whole suite: SCAN the test Redis and compare with what globalSetup
 * saw before the run. A dedicated spec could not do this soundly, since test files run
 * in parallel and in any order. The containers stop whatever the check found; a failed
 * check then fails the jest run with the keys listed (see settleKeyCheck).
 */
export default async function globalTeardown(): Promise<void> {
  const failure = await checkKeys().catch((err: Error) => err.message);
  await stopContainers();
  settleKeyCheck('REDIS_URL', failure);
}

async function checkKeys(): Promise<string | undefined> {
  const holder = globalThis as { __keysWithoutTtlBefore__?: Set<string> };
  const before = holder.__keysWithoutTtlBefore__;
  holder.__keysWithoutTtlBefore__ = undefined;
  const url = process.env['REDIS_URL'];
  if (!before || !url) return undefined;
  const written = (await keysWithoutTtl(url)).filter((key) => !before.has(key));
  return written.length > 0 ? describeKeysWithoutTtl(`the test Redis (${url})`, written) : undefined;
}

/** Stops the containers globalSetup started, if it started any. */
async function stopContainers(): Promise<void> {
  const holder = globalThis as { __testContainers__?: { stop(): Promise<unknown> }[] };
  const started = holder.__testContainers__ ?? [];
  holder.__testContainers__ = [];
  await Promise.all(started.map((c) => c.stop()));
}
