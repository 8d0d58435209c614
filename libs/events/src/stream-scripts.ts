import { defineScripts, type RedisClient } from '@platform/redis';

/**
 * How a stream stays bounded without losing an event: only entries that every consumer group is
 * done with (acked, or dead-lettered) are ever trimmed. Both scripts touch one stream (and its
 * dead-letter stream, which shares its hash tag), so they run on one node of a cluster.
 */

/** Lua functions both scripts start with. */
const FIRST_NEEDED_LUA = `
-- Stream ids are <ms>-<seq>.
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

-- Whether id a is older than id b.
local function older(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end

-- The smallest id after this one, whether or not an entry has it.
local function after(id)
  local ms, seq = parse(id)
  return string.format('%d-%d', ms, seq + 1)
end

-- The id from which some consumer group still needs the entries (XTRIM MINID trims those before
-- it): the group's oldest pending entry (delivered, not acked yet), or else whatever comes after
-- the last entry it was given. '0-0', which trims nothing, while the stream has no group: a group
-- created later reads it from the start.
local function first_needed(stream)
  local needed = nil
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local info = {}
    for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
    local bound = after(info['last-delivered-id'])
    if info['pending'] > 0 then bound = redis.call('XPENDING', stream, info['name'])[2] end
    if needed == nil or older(bound, needed) then needed = bound end
  end
  return needed or '0-0'
end

-- The Redis clock in ms, minus ms, as a stream id: XTRIM MINID with it trims what is older.
local function ago(ms)
  local now = redis.call('TIME')
  return string.format('%d-0', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ms))
end
`;

/**
 * KEYS[1] stream. ARGV[1] the most entries it may hold, ARGV[2..] the events (JSON), in order.
 * Returns the new entries' ids, in order: all of them, or those added before the stream was full of
 * entries some group still needs (the rest are not added, so the stream keeps the events' order).
 */
const PUBLISH_LUA = `${FIRST_NEEDED_LUA}
local cap = tonumber(ARGV[1])
local length = redis.call('XLEN', KEYS[1])
local ids = {}
for i = 2, #ARGV do
  if length >= cap then
    -- At the cap, entries every group is done with give way, however recent.
    redis.call('XTRIM', KEYS[1], 'MINID', first_needed(KEYS[1]))
    length = redis.call('XLEN', KEYS[1])
    -- Still full: the caller keeps the rest (their outbox rows stay unsent) until consumers catch up.
    if length >= cap then return ids end
  end
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'data', ARGV[i])
  length = length + 1
end
return ids
`;

/**
 * KEYS[1] stream, KEYS[2] its dead-letter stream. ARGV[1] how long entries every group is done with
 * are kept (ms), ARGV[2] how long dead letters are kept (ms). Returns the entries trimmed.
 */
const TRIM_LUA = `${FIRST_NEEDED_LUA}
local trimmed = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  local before = ago(ARGV[1])
  local needed = first_needed(KEYS[1])
  if older(needed, before) then before = needed end
  trimmed = redis.call('XTRIM', KEYS[1], 'MINID', before)
end
-- Dead letters are needed by nobody: kept for inspection, then trimmed by age alone.
if redis.call('EXISTS', KEYS[2]) == 1 then
  trimmed = trimmed + redis.call('XTRIM', KEYS[2], 'MINID', ago(ARGV[2]))
end
return trimmed
`;

interface StreamCommands {
  platformStreamPublish(stream: string, maxLen: number, ...jsons: string[]): Promise<string[]>;
  platformStreamTrim(stream: string, deadLetter: string, retentionMs: number, deadLetterRetentionMs: number): Promise<number>;
}

const SCRIPTS = Object.freeze({
  platformStreamPublish: { numberOfKeys: 1, lua: PUBLISH_LUA },
  platformStreamTrim: { numberOfKeys: 2, lua: TRIM_LUA },
});

/** The client with the stream scripts defined on it (once per client). */
export function streamScripts(client: RedisClient): StreamCommands {
  return defineScripts<StreamCommands>(client, SCRIPTS);
}
