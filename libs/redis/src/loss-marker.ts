import type { RedisClient } from './client';
import { defineScripts } from './scripts';

/**
 * A marker that says "this Redis still holds what was written to it": the revocation marks
 * (libs/redis revocation.ts) and each event stream (libs/events) keep one. Redis loses data in
 * two ways. A flush or a restart without persistence empties it, and the marker goes with the
 * rest. A failover promotes a replica that may lack the primary's last acknowledged writes
 * (replication is asynchronous) while holding the marker, which was written long before.
 * So the marker's value is the primary's replication ID (`master_replid` of INFO replication),
 * which a promotion changes: a marker that is there but names another primary counts as gone
 * (docs/adr/0019). The check and the write read the ID in the same script as the key, so
 * they answer for the server that holds the key, a Cluster shard's primary included.
 */
export interface LossMarker {
  /** Extends the marker and answers true when it is there and written on this primary; false when it is gone. */
  touch(ttlSeconds: number): Promise<boolean>;
  /** Writes the marker for the current primary. */
  set(ttlSeconds: number): Promise<void>;
  /**
   * The marker as this primary holds it: its value when written on this primary; `elsewhere` when
   * it is there but names another primary (a failover since it was written); `gone` otherwise.
   */
  current(): Promise<MarkerState>;
}

export type MarkerState = { state: 'current'; value: string } | { state: 'elsewhere' } | { state: 'gone' };

const PRIMARY_ID = `
local info = redis.call('INFO', 'replication')
local id = string.match(info, 'master_replid:(%w+)') or 'unknown'
`;

const TOUCH_LUA = `${PRIMARY_ID}
-- KEYS[1]: the marker, ARGV[1]: its TTL in seconds
if redis.call('GET', KEYS[1]) ~= id then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`;

const SET_LUA = `${PRIMARY_ID}
redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
return id
`;

const CURRENT_LUA = `${PRIMARY_ID}
local value = redis.call('GET', KEYS[1])
if value == id then return value end
-- There, but written on another primary: 0, told apart from a marker that is gone (nil).
if value then return 0 end
return false
`;

type WithMarkerScripts = {
  platformMarkerTouch(key: string, ttlSeconds: number): Promise<number>;
  platformMarkerSet(key: string, ttlSeconds: number): Promise<string>;
  platformMarkerCurrent(key: string): Promise<string | 0 | null>;
};

export function lossMarker(client: RedisClient, key: string): LossMarker {
  const scripts = defineScripts<WithMarkerScripts>(client, {
    platformMarkerTouch: { numberOfKeys: 1, lua: TOUCH_LUA },
    platformMarkerSet: { numberOfKeys: 1, lua: SET_LUA },
    platformMarkerCurrent: { numberOfKeys: 1, lua: CURRENT_LUA },
  });
  return Object.freeze({
    touch: async (ttlSeconds: number) => (await scripts.platformMarkerTouch(key, ttlSeconds)) === 1,
    set: async (ttlSeconds: number) => void (await scripts.platformMarkerSet(key, ttlSeconds)),
    current: async (): Promise<MarkerState> => {
      const value = await scripts.platformMarkerCurrent(key);
      return typeof value === 'string' ? { state: 'current', value } : value === 0 ? { state: 'elsewhere' } : { state: 'gone' };
    },
  });
}
