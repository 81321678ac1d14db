/**
 * The Lua scripts behind the Redis driver. Every mutation is one script, so
 * it is atomic, and every script reads time from Redis (`TIME`), never from
 * a client.
 *
 * Key layout for prefix `P` and env `E` (the `{E}` hash tag puts all of an
 * env's keys in one Cluster slot, so each script touches a single slot):
 *
 * | key           | type | holds                                              |
 * | ------------- | ---- | -------------------------------------------------- |
 * | `P{E}:i`      | hash | id → `owner\nseq\nregisteredAt\nttl\nservice\njson` |
 * | `P{E}:x`      | zset | id scored by expiresAt (ms): liveness and purging   |
 * | `P{E}:s:<svc>`| zset | id scored by seq: one service, oldest first         |
 * | `P{E}:svcs`   | set  | names of services with entries                      |
 * | `P{E}:seq`    | str  | the last seq handed out                             |
 * | `P{E}:clock`  | hash | `last` script time, `mttl` smallest ttl seen        |
 *
 * @module
 */

/**
 * Shared by every script. KEYS[1] is the env's key base (`P{E}:`); scripts
 * derive the other keys from it, and all share its hash tag and slot.
 */
const PRELUDE = `
local base = KEYS[1]
local K_INST, K_EXP, K_SVCS, K_SEQ, K_CLOCK =
  base .. 'i', base .. 'x', base .. 'svcs', base .. 'seq', base .. 'clock'

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- value: owner \\n seq \\n registeredAt \\n ttl \\n service \\n json
local function fields(value)
  return string.match(value, '^([^\\n]*)\\n(%d+)\\n(%d+)\\n(%d+)\\n([^\\n]*)\\n')
end

local function remove(id, value)
  redis.call('HDEL', K_INST, id)
  redis.call('ZREM', K_EXP, id)
  local _, _, _, _, service = fields(value)
  if service then
    local k = base .. 's:' .. service
    redis.call('ZREM', k, id)
    if redis.call('EXISTS', k) == 0 then redis.call('SREM', K_SVCS, service) end
  end
end

-- After a gap in which no script ran (Redis paused, frozen or restarted with
-- its data), every score that fell due inside the gap is stale at once.
-- Those entries get one full ttl from now to beat again, instead of the
-- whole fleet being evicted by the first purge.
local function guard_gap()
  local c = redis.call('HMGET', K_CLOCK, 'last', 'mttl')
  local last, mttl = tonumber(c[1]), tonumber(c[2])
  if last and mttl and now - last > mttl / 2 then
    local stale = redis.call('ZRANGEBYSCORE', K_EXP, '(' .. last, now, 'LIMIT', 0, 100000)
    for _, id in ipairs(stale) do
      local value = redis.call('HGET', K_INST, id)
      local ttl = value and select(4, fields(value))
      if ttl then redis.call('ZADD', K_EXP, now + tonumber(ttl), id) end
    end
  end
  if not last or now > last then redis.call('HSET', K_CLOCK, 'last', now) end
end

-- Bounded, so one script never stalls Redis; the next call purges more.
local function purge()
  local expired = redis.call('ZRANGEBYSCORE', K_EXP, '-inf', now, 'LIMIT', 0, 256)
  for _, id in ipairs(expired) do
    local value = redis.call('HGET', K_INST, id)
    if value then remove(id, value) else redis.call('ZREM', K_EXP, id) end
  end
end

-- unpack() is limited to a few thousand values, so big reads go in chunks.
local function chunked(command, key, ids)
  local out = {}
  for i = 1, #ids, 1000 do
    local part = redis.call(command, key, unpack(ids, i, math.min(i + 999, #ids)))
    for _, v in ipairs(part) do out[#out + 1] = v end
  end
  return out
end

guard_gap()
purge()
`;

/**
 * Registers or refreshes one instance. Also the heartbeat: it carries the
 * whole registration, so it re-creates an entry the backend lost.
 *
 * KEYS: base. ARGV: id, owner, ttl, service, json.
 * Returns `{status, seq, registeredAt, expiresAt}`; status is `refreshed`,
 * `created` or `conflict` (another live owner holds the id).
 */
export const UPSERT = `${PRELUDE}
local id, owner, ttl, service, json = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]

local mttl = tonumber(redis.call('HGET', K_CLOCK, 'mttl'))
if not mttl or ttl < mttl then redis.call('HSET', K_CLOCK, 'mttl', ttl) end

local value = redis.call('HGET', K_INST, id)
if value then
  local holder, seq, registered = fields(value)
  local expires = tonumber(redis.call('ZSCORE', K_EXP, id))
  if not expires or expires <= now then
    -- Expired (purge is bounded and may not have reached it): the id is free,
    -- and a returning owner gets a new seq, since its lease was lost.
    remove(id, value)
  elseif holder == owner then
    expires = now + ttl
    redis.call('ZADD', K_EXP, expires, id)
    return {'refreshed', tonumber(seq), tonumber(registered), expires}
  else
    return {'conflict', tonumber(seq), tonumber(registered), expires}
  end
end

-- A new seq: one more than the last, and never below the time in
-- microseconds, so seqs keep rising even after Redis lost its counter.
local seq = (tonumber(redis.call('GET', K_SEQ)) or 0) + 1
if seq < now_us then seq = now_us end
local seq_text = string.format('%.0f', seq)
redis.call('SET', K_SEQ, seq_text)
redis.call('HSET', K_INST, id,
  owner .. '\\n' .. seq_text .. '\\n' .. now .. '\\n' .. ttl .. '\\n' .. service .. '\\n' .. json)
redis.call('ZADD', K_EXP, now + ttl, id)
redis.call('ZADD', base .. 's:' .. service, seq_text, id)
redis.call('SADD', K_SVCS, service)
return {'created', seq, now, now + ttl}
`;

/**
 * Removes one instance if the owner holds it.
 *
 * KEYS: base. ARGV: id, owner. Returns 1 when removed, else 0.
 */
export const DEREGISTER = `${PRELUDE}
local value = redis.call('HGET', KEYS[1] .. 'i', ARGV[1])
if not value then return 0 end
local holder = fields(value)
if holder ~= ARGV[2] then return 0 end
remove(ARGV[1], value)
return 1
`;

/**
 * Lists live instances: of the named services (ordered by seq), or of all.
 *
 * KEYS: base. ARGV: service names (none for all).
 * Returns a flat array: value, expiresAt, value, expiresAt, ...
 */
export const LIST = `${PRELUDE}
local ids
if #ARGV == 0 then
  ids = redis.call('ZRANGEBYSCORE', K_EXP, '(' .. now, '+inf')
else
  ids = {}
  for _, service in ipairs(ARGV) do
    for _, id in ipairs(redis.call('ZRANGE', base .. 's:' .. service, 0, -1)) do
      ids[#ids + 1] = id
    end
  end
end
local out = {}
if #ids == 0 then return out end
local values = chunked('HMGET', K_INST, ids)
local expiries = chunked('ZMSCORE', K_EXP, ids)
for i = 1, #ids do
  local expires = tonumber(expiries[i])
  if values[i] and expires and expires > now then
    out[#out + 1] = values[i]
    out[#out + 1] = expires
  end
end
return out
`;

/**
 * Lists the services with live entries.
 *
 * KEYS: base. Returns the names, unsorted.
 */
export const SERVICES = `${PRELUDE}
return redis.call('SMEMBERS', K_SVCS)
`;
