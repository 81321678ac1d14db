/**
 * The Redis data model this benchmark compares against: the v2 heartbeat
 * script, as it stood before the v3 layout (commit 208cf59). Kept here only
 * so each report measures both in one run; the library never loads it.
 *
 * KEYS: `P{E}:`. ARGV: id, owner, ttl, service, json, reason, status.
 *
 * @module
 */

/** How many changes each env's log keeps, roughly (trimming is lazy). */
const CHANGE_LOG_LENGTH = 10_000;

/** Shared by every script. KEYS[1] is the env's key base, `P{E}:`. */
const PRELUDE = `
local base = KEYS[1]
local K_SVCS, K_SEQ, K_CLOCK = base .. 'svcs', base .. 'seq', base .. 'clock'
local K_EVENTS = base .. 'events'

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])

local function K_INST(service) return base .. 'i:' .. service end
local function K_EXP(service) return base .. 'x:' .. service end

-- value: owner \\n seq \\n registeredAt \\n ttl \\n status \\n json
local function fields(value)
  return string.match(value, '^([^\\n]*)\\n(%d+)\\n(%d+)\\n(%d+)\\n([^\\n]*)\\n')
end

-- Appends a change to the env's capped log. 'n' numbers the changes without
-- gaps, so a reader can tell when some were trimmed away or lost.
local function record(kind, reason, service, id, value, expires)
  local n = redis.call('HINCRBY', K_CLOCK, 'evn', 1)
  local body = string.sub(value, (string.find(value, '\\n', 1, true) or 0) + 1)
  redis.call('XADD', K_EVENTS, 'MAXLEN', '~', ${CHANGE_LOG_LENGTH}, '*',
    'n', n, 'e', kind, 'r', reason, 's', service, 'i', id, 'x', expires, 'v', body)
end

local function remove(service, id, reason)
  local value = redis.call('HGET', K_INST(service), id)
  if value then
    local expires = tonumber(redis.call('ZSCORE', K_EXP(service), id)) or now
    record('leave', reason, service, id, value, string.format('%.0f', expires))
  end
  redis.call('HDEL', K_INST(service), id)
  redis.call('ZREM', K_EXP(service), id)
  if redis.call('EXISTS', K_INST(service)) == 0 then
    redis.call('SREM', K_SVCS, service)
  end
end

-- After a gap in which no script ran (Redis paused, frozen, or restarted
-- with its data), every score that fell due inside the gap is stale at once.
-- Those entries get one full ttl from now to beat again, rather than the
-- first purge evicting the whole fleet.
local clock = redis.call('HMGET', K_CLOCK, 'last', 'mttl')
local last, mttl = tonumber(clock[1]), tonumber(clock[2])
if last and mttl and now - last > mttl / 2 then
  for _, service in ipairs(redis.call('SMEMBERS', K_SVCS)) do
    local stale = redis.call('ZRANGEBYSCORE', K_EXP(service), '(' .. last, now)
    for _, id in ipairs(stale) do
      local value = redis.call('HGET', K_INST(service), id)
      local ttl = value and select(4, fields(value))
      if ttl then redis.call('ZADD', K_EXP(service), now + tonumber(ttl), id) end
    end
  end
end
if not last or now > last then redis.call('HSET', K_CLOCK, 'last', now) end

-- Bounded, so one script never stalls Redis; the next call purges more.
local function purge(service)
  local expired = redis.call('ZRANGEBYSCORE', K_EXP(service), '-inf', now, 'LIMIT', 0, 256)
  for _, id in ipairs(expired) do remove(service, id, 'expired') end
end
`;

/**
 * Registers or refreshes one instance. Also the heartbeat: it carries the
 * whole registration, so it re-creates an entry the backend lost.
 *
 * KEYS: base. ARGV: id, owner, ttl, service, json, the reason a creation is
 * recorded with (`registered` or `reregistered`), and the status. A changed
 * status is stored and recorded as an `update`.
 * Returns `{status, seq, registeredAt, expiresAt}`; status is `refreshed`,
 * `created` or `conflict` (another live owner holds the id).
 */
export const UPSERT = `${PRELUDE}
local id, owner, ttl, service, json = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local reason, status = ARGV[6], ARGV[7]
if not mttl or ttl < mttl then redis.call('HSET', K_CLOCK, 'mttl', ttl) end
purge(service)

local value = redis.call('HGET', K_INST(service), id)
if value then
  local holder, seq, registered, stored_ttl, stored_status = fields(value)
  local expires = tonumber(redis.call('ZSCORE', K_EXP(service), id))
  if not expires or expires <= now then
    -- Expired (the purge is bounded and may not have reached it): the id is
    -- free, and a returning owner gets a new seq, since its lease was lost.
    remove(service, id, 'expired')
  elseif holder == owner then
    expires = now + ttl
    redis.call('ZADD', K_EXP(service), expires, id)
    if stored_status ~= status then
      local rest = string.match(value, '^[^\\n]*\\n%d+\\n%d+\\n%d+\\n[^\\n]*\\n(.*)$')
      value = holder .. '\\n' .. seq .. '\\n' .. registered .. '\\n' .. stored_ttl ..
        '\\n' .. status .. '\\n' .. rest
      redis.call('HSET', K_INST(service), id, value)
      record('update', 'health', service, id, value, string.format('%.0f', expires))
    end
    return {'refreshed', tonumber(seq), tonumber(registered), expires}
  else
    return {'conflict', tonumber(seq), tonumber(registered), expires}
  end
end

-- Ids are unique in the env: one live under another service is a conflict.
-- Only creation pays for this check, never a plain heartbeat.
for _, other in ipairs(redis.call('SMEMBERS', K_SVCS)) do
  if other ~= service then
    local held = redis.call('HGET', K_INST(other), id)
    if held then
      local expires = tonumber(redis.call('ZSCORE', K_EXP(other), id))
      if expires and expires > now then
        local _, seq, registered = fields(held)
        return {'conflict', tonumber(seq), tonumber(registered), expires}
      end
      remove(other, id, 'expired')
    end
  end
end

-- A new seq: one more than the last, and never below the time in
-- microseconds, so seqs keep rising even after Redis lost its counter.
local seq = (tonumber(redis.call('GET', K_SEQ)) or 0) + 1
if seq < now_us then seq = now_us end
local seq_text = string.format('%.0f', seq)
redis.call('SET', K_SEQ, seq_text)
local value = owner .. '\\n' .. seq_text .. '\\n' .. now .. '\\n' .. ttl .. '\\n' ..
  status .. '\\n' .. json
redis.call('HSET', K_INST(service), id, value)
redis.call('ZADD', K_EXP(service), now + ttl, id)
redis.call('SADD', K_SVCS, service)
record('join', reason, service, id, value, string.format('%.0f', now + ttl))
return {'created', seq, now, now + ttl}
`;
