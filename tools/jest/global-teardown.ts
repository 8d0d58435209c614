/** Stops the containers globalSetup started, if it started any. */
export default async function globalTeardown(): Promise<void> {
  const holder = globalThis as { __testContainers__?: { stop(): Promise<unknown> }[] };
  const started = holder.__testContainers__ ?? [];
  holder.__testContainers__ = [];
  await Promise.all(started.map((c) => c.stop()));
}
