import type { RedisClient } from './client';

export interface ScriptDefinition {
  /** Unset: the command's first argument says how many keys follow. */
  numberOfKeys?: number;
  lua: string;
}

/**
 * The one way Lua scripts are loaded here: each module keeps its scripts as named constants
 * beside the code that runs them and defines them as commands on `client` (ioredis's
 * defineCommand: EVALSHA, falling back to EVAL after a NOSCRIPT, as after a script flush),
 * once per client: several caches or limiters on one client share them, and defining twice
 * would replace the method. Returns the client typed with them.
 */
export function defineScripts<T>(client: RedisClient, scripts: Readonly<Record<string, ScriptDefinition>>): T {
  const defined = client as unknown as Record<string, unknown>;
  for (const [name, definition] of Object.entries(scripts)) {
    if (typeof defined[name] !== 'function') client.defineCommand(name, definition);
  }
  return client as unknown as T;
}

/**
 * A dead Redis fails every request; one log line per interval says enough. Returns a
 * function that answers whether to log now, and how many calls it kept quiet since.
 */
export function logThrottle(intervalMs = 10_000): () => { log: boolean; suppressed: number } {
  let last = -Infinity;
  let suppressed = 0;
  return () => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return { log: false, suppressed };
    }
    const quiet = suppressed;
    last = now;
    suppressed = 0;
    return { log: true, suppressed: quiet };
  };
}
