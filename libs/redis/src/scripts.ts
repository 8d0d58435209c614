import { createHash } from 'node:crypto';
import type { RedisClient } from './client';

export interface ScriptDefinition {
  numberOfKeys: number;
  lua: string;
}

/**
 * Defines Lua scripts as commands on `client` (EVALSHA, falling back to EVAL after a
 * script flush), once per client: several caches or limiters on one client share them,
 * and defining twice would replace the method. Returns the client typed with them.
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

/** A Lua script run by its SHA1 (see `runScript`). */
export interface RawScript {
  lua: string;
  sha: string;
}

export function rawScript(lua: string): RawScript {
  return Object.freeze({ lua, sha: createHash('sha1').update(lua).digest('hex') });
}

/**
 * EVALSHA, and EVAL (which also caches the script) only after a NOSCRIPT (a restarted or
 * flushed Redis). For the request path: ioredis's defineCommand wrapper costs a measurable
 * share of a check there, and so does every extra promise, hence plain `then` chains.
 */
export function runScript(client: RedisClient, script: RawScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  return client.evalsha(script.sha, keys.length, ...keys, ...args).catch((err: unknown) => {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return client.eval(script.lua, keys.length, ...keys, ...args);
  });
}
