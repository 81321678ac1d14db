/**
 * The Lua scripts behind the Redis driver. Every mutation is one script, so
 * it is atomic; every script reads time from Redis (`TIME`), never from a
 * client; every key a script touches arrives in `KEYS` (none is built in
 * Lua), and all of an env's keys share the hash tag `{E}`, so each script
 * touches one Cluster slot.
 *
 * Key layout for prefix `P`, env `E` and service `S`:
 *
 * | key          | type   | holds                                                     |
 * | ------------ | ------ | --------------------------------------------------------- |
 * | `P{E}:ids`   | hash   | id → `S⇥slot⇥seq⇥digest⇥ttl⇥registeredAt⇥status⇥gen`      |
 * | `P{E}:x`     | zset   | id scored by when the purge may remove it (its expiry)    |
 * | `P{E}:svcs`  | set    | services that have entries                                |
 * | `P{E}:meta`  | hash   | `seq`, `n` and `ep` (the change log's count and epoch), `out` (reported outages), per service `h:S`, `c:S`, `g:S` |
 * | `P{E}:log`   | stream | the change log, entry ids `n-0`, capped                   |
 * | `P{E}:purge` | string | the purge token (`SET NX PX`)                             |
 * | `P{E}:p:S`   | string | the service's packed records: `gen⏎`, then `id⇥seq⇥registeredAt⇥ttl⇥slot⇥json⏎` |
 * | `P{E}:b:S`   | string | fixed-width beat slots: `expiresAt(13) status(1) seq(16)` |
 * | `P{E}:f:S`   | list   | the service's free slots                                  |
 *
 * - A heartbeat refreshes its slot with `SETRANGE` and its score in `x`; the
 *   packed records change only on join, leave or restore. A listing is one
 *   read-only script that returns each service's two strings, so neither
 *   Redis nor the client pays per entry for reply elements.
 * - The owner token is never stored: `ids` keeps 16 hex digits of its SHA-1,
 *   and listings never read `ids`.
 * - A listing shows an entry only while its slot's expiry, written by a
 *   heartbeat, is in the future. The score in `x` only says when the purge
 *   may remove the entry, which an outage grace can postpone: a grace never
 *   makes an expired entry visible again.
 * - A leave zeroes the slot and leaves the record in `p:S` as garbage (it no
 *   longer matches its slot); `g:S` counts garbage, and the packed string is
 *   compacted once garbage outnumbers live records.
 *
 * @module
 */

import { MAX_TTL_MS } from "../../driver.ts";

/** How many changes each env's log keeps, roughly (trimming is lazy). */
export const CHANGE_LOG_LENGTH = 10_000;
/** The width of one beat slot in `b:S`. */
export const SLOT_WIDTH = 30;
/** An env's log and meta expire after this long without a change or purge. */
export const IDLE_EXPIRY_MS = 24 * 60 * 60 * 1000;
/** How many entries one purge call examines at most. */
export const PURGE_LIMIT = 500;
/** A call that reaches Redis this much later than it was sent reports an outage. */
export const STALL_MS = 500;
/** How many outage windows an env remembers. */
const MAX_WINDOWS = 16;

/** Helpers for the scripts that write. */
const WRITE_PRELUDE = `#!lua
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local W = ${SLOT_WIDTH}
local ZERO_SLOT = string.rep('0', W)

local function fmt(n) return string.format('%.0f', n) end

-- ids value: service, slot, seq, digest, ttl, registeredAt, status, gen
local function entry(value)
  local s, slot, seq, digest, ttl, reg, status, gen = string.match(value,
    '^([^\\t]+)\\t(%d+)\\t(%d+)\\t(%x+)\\t(%d+)\\t(%d+)\\t(%a)\\t([^\\t]*)$')
  if not s then return nil end
  return {service = s, slot = tonumber(slot), seq = seq, digest = digest,
    ttl = tonumber(ttl), reg = reg, status = status, gen = gen}
end

local function entry_text(e)
  return e.service .. '\\t' .. e.slot .. '\\t' .. e.seq .. '\\t' .. e.digest .. '\\t' ..
    e.ttl .. '\\t' .. e.reg .. '\\t' .. e.status .. '\\t' .. e.gen
end

-- Reported outages: 'from:to,...', oldest first, merged, pruned once no
-- entry could still be owed a grace from them.
local function windows(K_META)
  local list = {}
  local text = redis.call('HGET', K_META, 'out')
  if text then
    for a, b in string.gmatch(text, '(%d+):(%d+)') do
      list[#list + 1] = {tonumber(a), tonumber(b)}
    end
  end
  return list
end

-- 'since' is when, by Redis's clock, the caller last knew Redis to answer:
-- 'f' and its last reply before its calls failed, or 's' and when it sent
-- this call. Either way a call that reaches Redis that much later waited
-- out an outage (a pause, a freeze, a restart), and says so; a sent call
-- must have waited at least a stall, so ordinary latency reports nothing.
local function report(K_META, since)
  local kind, from = string.match(since or '', '^([fs])(%d+)$')
  from = tonumber(from)
  if not from or now <= from or (kind == 's' and now - from < ${STALL_MS}) then
    return
  end
  local list = windows(K_META)
  list[#list + 1] = {from, now}
  table.sort(list, function(a, b) return a[1] < b[1] end)
  local merged = {}
  for _, w in ipairs(list) do
    local last = merged[#merged]
    if w[2] >= now - ${MAX_TTL_MS} then
      if last and w[1] <= last[2] then
        if w[2] > last[2] then last[2] = w[2] end
      else
        merged[#merged + 1] = {w[1], w[2]}
      end
    end
  end
  local parts = {}
  for i = math.max(1, #merged - ${MAX_WINDOWS - 1}), #merged do
    parts[#parts + 1] = fmt(merged[i][1]) .. ':' .. fmt(merged[i][2])
  end
  redis.call('HSET', K_META, 'out', table.concat(parts, ','))
end

-- The end of a reported outage during which 'due' fell, if any.
local function outage_end(K_META, due)
  for _, w in ipairs(windows(K_META)) do
    if w[1] <= due and due <= w[2] then return w[2] end
  end
  return nil
end

-- Until when the entry's lease runs, or nil when it has lapsed. A score
-- with a fraction was graced once already; an integer score that fell due
-- inside a reported outage is graced until the outage's end plus a ttl.
local function lease(K_X, K_B, K_META, id, e)
  local score = tonumber(redis.call('ZSCORE', K_X, id))
  if not score then
    -- The expiry index lost it (deleted by hand): the slot still knows.
    local slot = redis.call('GETRANGE', K_B, e.slot * W, e.slot * W + W - 1)
    if tonumber(string.sub(slot, 15, 30)) == tonumber(e.seq) then
      score = tonumber(string.sub(slot, 1, 13))
    end
  end
  if not score then return nil end
  if score > now then return score end
  if score % 1 ~= 0 then return nil end
  local to = outage_end(K_META, score)
  if to and now < to + e.ttl then return to + e.ttl end
  return nil
end

local function write_slot(K_B, slot, expires, status, seq)
  redis.call('SETRANGE', K_B, slot * W,
    string.format('%013.0f', expires) .. status .. string.format('%016.0f', tonumber(seq)))
end

-- Appends a change to the env's capped log, numbered without gaps. A new
-- meta hash (first change, or the counter was lost) starts a new epoch, so
-- readers can tell lost changes from trimmed ones.
local function record(K_META, K_LOG, text)
  local n = redis.call('HINCRBY', K_META, 'n', 1)
  if n == 1 or not redis.call('HGET', K_META, 'ep') then
    local last = redis.call('XREVRANGE', K_LOG, '+', '-', 'COUNT', 1)[1]
    if last then
      n = tonumber(string.match(last[1], '^(%d+)')) + 1
      redis.call('HSET', K_META, 'n', n)
    end
    redis.call('HSET', K_META, 'ep', fmt(now_us))
  end
  redis.call('XADD', K_LOG, 'MAXLEN', '~', ${CHANGE_LOG_LENGTH}, n .. '-0', 'c', text)
  redis.call('PEXPIRE', K_META, ${IDLE_EXPIRY_MS})
  redis.call('PEXPIRE', K_LOG, ${IDLE_EXPIRY_MS})
end

-- The generation of a service's packed records: its first line.
local function packed_gen(K_P)
  local head = redis.call('GETRANGE', K_P, 0, 31)
  return string.match(head, '^([^\\n]*)\\n') or ''
end

-- Appends a record, creating the packed string (with a new generation)
-- when it is missing. Returns the generation.
local function append_record(K_P, id, e, body)
  local gen = packed_gen(K_P)
  if gen == '' then
    gen = fmt(now_us)
    redis.call('SET', K_P, gen .. '\\n')
  end
  redis.call('APPEND', K_P, id .. '\\t' .. e.seq .. '\\t' .. e.reg .. '\\t' .. e.ttl ..
    '\\t' .. e.slot .. '\\t' .. body .. '\\n')
  return gen
end

-- Drops records that no longer match their slot (left, or superseded by a
-- restored copy), keeping for each id the copy with the latest expiry.
local function compact(K_P, K_B)
  local packed = redis.call('GET', K_P)
  if not packed then return end
  local beats = redis.call('GET', K_B) or ''
  local gen, rest = string.match(packed, '^([^\\n]*)\\n(.*)$')
  if not gen then return end
  local best, order = {}, {}
  for line in string.gmatch(rest, '([^\\n]*)\\n') do
    local id, seq, slot = string.match(line, '^([^\\t]+)\\t(%d+)\\t%d+\\t%d+\\t(%d+)\\t')
    if id then
      local off = tonumber(slot) * W
      local expires = string.sub(beats, off + 1, off + 13)
      if tonumber(string.sub(beats, off + 15, off + 30)) == tonumber(seq)
        and expires ~= '' and tonumber(expires) > 0 then
        local known = best[id]
        if not known then order[#order + 1] = id end
        if not known or expires > known[1] then best[id] = {expires, line} end
      end
    end
  end
  local lines = {gen}
  for _, id in ipairs(order) do lines[#lines + 1] = best[id][2] end
  redis.call('SET', K_P, table.concat(lines, '\\n') .. '\\n')
end

-- 1 when the env holds an entry the purge may remove now.
local function due(K_X)
  local first = redis.call('ZRANGE', K_X, 0, 0, 'WITHSCORES')
  return (first[2] and tonumber(first[2]) <= now) and 1 or 0
end

-- Removes an entry of service keys (K_P, K_B, K_F) and records its leave.
local function remove(K, id, e, reason)
  redis.call('HDEL', K.ids, id)
  redis.call('ZREM', K.x, id)
  local off = e.slot * W
  if tonumber(redis.call('GETRANGE', K.b, off + 14, off + 29)) == tonumber(e.seq) then
    redis.call('SETRANGE', K.b, off, ZERO_SLOT)
    redis.call('LPUSH', K.f, e.slot)
  end
  record(K.meta, K.log, 'l\\t' .. reason .. '\\t' .. e.service .. '\\t' .. id .. '\\t' .. e.seq)
  local left = redis.call('HINCRBY', K.meta, 'c:' .. e.service, -1)
  local garbage = redis.call('HINCRBY', K.meta, 'g:' .. e.service, 1)
  if left <= 0 then
    -- The count may have been lost with meta: count the occupied slots.
    local beats = redis.call('GET', K.b) or ''
    local occupied = 0
    for off = 1, #beats, W do
      if string.find(string.sub(beats, off, off + 12), '[1-9]') then occupied = occupied + 1 end
    end
    if occupied == 0 then
      redis.call('DEL', K.p, K.b, K.f)
      redis.call('HDEL', K.meta, 'h:' .. e.service, 'c:' .. e.service, 'g:' .. e.service)
      redis.call('SREM', K.svcs, e.service)
      return
    end
    left = occupied
    redis.call('HSET', K.meta, 'c:' .. e.service, occupied)
  end
  if garbage > 64 and garbage > left then
    compact(K.p, K.b)
    redis.call('HSET', K.meta, 'g:' .. e.service, 0)
  end
end
`;

/**
 * Registers or refreshes one instance. Also the heartbeat: it carries the
 * whole registration, so it re-creates an entry the backend lost, and the
 * seq it last held, so an entry lost while its lease still ran (data loss)
 * comes back under the same seq.
 *
 * The fast path (the entry exists, its lease runs, this owner holds it)
 * costs `TIME`, `HGET`, `ZSCORE`, `SETRANGE`, `ZADD`, `SADD`, a `GETRANGE`
 * of the packed records' generation and a `ZRANGE` of the earliest expiry
 * (so the client knows when to offer a purge), and writes no log entry
 * unless the status changed.
 *
 * KEYS: ids, x, svcs, meta, log, p:S, b:S, f:S.
 * ARGV: id, owner, ttl, service, status (`h`/`u`), json body, the reason a
 * creation is logged with (`r` registered, `R` reregistered), the seq,
 * registeredAt and expiresAt this owner last held (or empty), since when by
 * Redis's clock this client last knew Redis to answer (or empty; see
 * `report`), and the slot it last held (or empty).
 *
 * Returns `{kind, seq, registeredAt, expiresAt, now, slot, due}`, due
 * being 1 when the env holds an entry the purge may remove; kind is `refreshed`,
 * `created`, `restored`, `conflict` (another live owner holds the id), or
 * `moved` (an expired entry of the id in another service must be purged
 * first; seq is that service's name).
 */
export const UPSERT = `${WRITE_PRELUDE}
local K = {ids = KEYS[1], x = KEYS[2], svcs = KEYS[3], meta = KEYS[4], log = KEYS[5],
  p = KEYS[6], b = KEYS[7], f = KEYS[8]}
local id, owner, ttl, service, status, body, reason =
  ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], ARGV[7]
report(K.meta, ARGV[11])
local digest = string.sub(redis.sha1hex(owner), 1, 16)

local value = redis.call('HGET', K.ids, id)
if value then
  local e = entry(value)
  if not e then
    redis.call('HDEL', K.ids, id)
    redis.call('ZREM', K.x, id)
  else
    local deadline = lease(K.x, K.b, K.meta, id, e)
    if deadline then
      if e.service ~= service or e.digest ~= digest then
        return {'conflict', e.seq, e.reg, fmt(deadline), now}
      end
      local expires = now + ttl
      write_slot(K.b, e.slot, expires, status, e.seq)
      redis.call('ZADD', K.x, expires, id)
      redis.call('SADD', K.svcs, service)
      local gen = packed_gen(K.p)
      if gen ~= e.gen or status ~= e.status then
        if gen ~= e.gen then
          -- The packed records were lost: put this one back.
          e.gen = append_record(K.p, id, e, body)
        end
        if status ~= e.status then
          e.status = status
          record(K.meta, K.log, 'u\\th\\t' .. service .. '\\t' .. id .. '\\t' .. e.seq ..
            '\\t' .. status .. '\\t' .. expires)
        end
        redis.call('HSET', K.ids, id, entry_text(e))
      end
      return {'refreshed', e.seq, e.reg, expires, now, e.slot, due(K.x)}
    end
    if e.service ~= service then return {'moved', e.service, 0, 0, now} end
    -- Lapsed: the id is free, and a returning owner gets a new seq.
    remove(K, id, e, 'e')
  end
end

-- Create, or restore an entry lost while its lease still ran.
local last = tonumber(redis.call('HGET', K.meta, 'seq')) or 0
local kind, seq, reg = 'created', nil, now
local prev_seq, prev_reg, prev_exp = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
if prev_seq and prev_reg and prev_exp then
  local to = prev_exp <= now and outage_end(K.meta, prev_exp)
  if prev_exp > now or (to and now < to + ttl) then
    kind, seq, reg = 'restored', prev_seq, prev_reg
    if last < seq then redis.call('HSET', K.meta, 'seq', fmt(seq)) end
  end
end
if not seq then
  -- One more than the last, and never below the time in microseconds, so
  -- seqs keep rising even after Redis lost its counter.
  seq = math.max(last + 1, now_us)
  redis.call('HSET', K.meta, 'seq', fmt(seq))
end

-- The slot it held when it still holds this seq; else a free slot that is
-- really free; else a new one past every slot in use.
local slot
local prev_slot = tonumber(ARGV[12])
if kind == 'restored' and prev_slot then
  local off = prev_slot * W
  if tonumber(redis.call('GETRANGE', K.b, off + 14, off + 29)) == seq then slot = prev_slot end
end
local counted = slot ~= nil
while not slot do
  local free = redis.call('RPOP', K.f)
  if not free then break end
  local off = tonumber(free) * W
  local held = redis.call('GETRANGE', K.b, off, off + W - 1)
  if held == '' or held == ZERO_SLOT then slot = tonumber(free) end
end
if not slot then
  local mark = tonumber(redis.call('HGET', K.meta, 'h:' .. service)) or 0
  slot = math.max(mark, math.floor(redis.call('STRLEN', K.b) / W))
  redis.call('HSET', K.meta, 'h:' .. service, slot + 1)
end

local e = {service = service, slot = slot, seq = fmt(seq), digest = digest, ttl = ttl,
  reg = fmt(reg), status = status, gen = ''}
local expires = now + ttl
e.gen = append_record(K.p, id, e, body)
if kind == 'restored' then redis.call('HINCRBY', K.meta, 'g:' .. service, 1) end
write_slot(K.b, slot, expires, status, e.seq)
redis.call('HSET', K.ids, id, entry_text(e))
redis.call('ZADD', K.x, expires, id)
redis.call('SADD', K.svcs, service)
if not counted then redis.call('HINCRBY', K.meta, 'c:' .. service, 1) end
record(K.meta, K.log, 'j\\t' .. (kind == 'restored' and 'R' or reason) .. '\\t' .. service ..
  '\\t' .. id .. '\\t' .. e.seq .. '\\t' .. e.reg .. '\\t' .. ttl .. '\\t' .. status ..
  '\\t' .. expires .. '\\t' .. body)
return {kind, e.seq, e.reg, expires, now, slot, due(K.x)}
`;

/**
 * Removes one instance if the owner holds it.
 *
 * KEYS: ids, x, svcs, meta, log, p:S, b:S, f:S. ARGV: id, owner, service.
 * Returns 1 when removed, else 0.
 */
export const DEREGISTER = `${WRITE_PRELUDE}
local K = {ids = KEYS[1], x = KEYS[2], svcs = KEYS[3], meta = KEYS[4], log = KEYS[5],
  p = KEYS[6], b = KEYS[7], f = KEYS[8]}
local id, owner, service = ARGV[1], ARGV[2], ARGV[3]
local value = redis.call('HGET', K.ids, id)
local e = value and entry(value)
if not e or e.service ~= service or e.digest ~= string.sub(redis.sha1hex(owner), 1, 16) then
  return 0
end
remove(K, id, e, 'd')
return 1
`;

/**
 * Takes the env's purge token and lists what is due. Whoever holds the
 * token purges; everyone else returns at once, so expiry work stays the
 * same however many processes watch. Also records an outage this client
 * reports, and says when purging is next worth trying: when the next
 * entry falls due, so watchers sleep until then rather than poll.
 *
 * KEYS: purge, x, ids, meta. ARGV: the token's lifetime in ms, since when
 * this client last knew Redis to answer (or empty).
 * Returns `{now, won, nextDue, tokenTtl}` (nextDue -1 when nothing is
 * scored; for a caller that did not win, the earliest score, due or not),
 * and, when won, the due ids each followed by its service.
 */
export const PURGE_SCAN = `${WRITE_PRELUDE}
local K_TOKEN, K_X, K_IDS, K_META = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
report(K_META, ARGV[2])
local function next_due()
  local first = redis.call('ZRANGEBYSCORE', K_X, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  return first[2] and tonumber(first[2]) or -1
end
if not redis.call('SET', K_TOKEN, '1', 'NX', 'PX', ARGV[1]) then
  -- Another purges now; if it dies first, whatever is due waits for the
  -- token to lapse, so report the earliest score, due or not.
  local first = redis.call('ZRANGE', K_X, 0, 0, 'WITHSCORES')
  return {now, 0, first[2] and tonumber(first[2]) or -1, redis.call('PTTL', K_TOKEN)}
end
redis.call('PEXPIRE', K_META, ${IDLE_EXPIRY_MS})
local due = redis.call('ZRANGEBYSCORE', K_X, '-inf', now, 'LIMIT', 0, ${PURGE_LIMIT})
local out = {now, 1, #due == ${PURGE_LIMIT} and now or next_due(), 0}
for _, id in ipairs(due) do
  local value = redis.call('HGET', K_IDS, id)
  local e = value and entry(value)
  if e then
    out[#out + 1] = id
    out[#out + 1] = e.service
  else
    redis.call('ZREM', K_X, id)
  end
end
return out
`;

/**
 * Removes the named ids whose lease has lapsed, recording each leave; an
 * id that fell due inside a reported outage is graced once instead.
 *
 * KEYS: ids, x, svcs, meta, log, then p:S, b:S, f:S for each service.
 * ARGV: since when this client last knew Redis to answer (or empty), the
 * number of services, their names, then the ids.
 * Returns how many entries were removed.
 */
export const PURGE = `${WRITE_PRELUDE}
local base = {ids = KEYS[1], x = KEYS[2], svcs = KEYS[3], meta = KEYS[4], log = KEYS[5]}
report(base.meta, ARGV[1])
local count = tonumber(ARGV[2])
local keys = {}
for i = 1, count do
  keys[ARGV[2 + i]] = {ids = base.ids, x = base.x, svcs = base.svcs, meta = base.meta,
    log = base.log, p = KEYS[3 + 3 * i], b = KEYS[4 + 3 * i], f = KEYS[5 + 3 * i]}
end
local removed = 0
for i = count + 3, #ARGV do
  local id = ARGV[i]
  local value = redis.call('HGET', base.ids, id)
  local e = value and entry(value)
  local K = e and keys[e.service]
  if K then
    local score = tonumber(redis.call('ZSCORE', K.x, id))
    local deadline = lease(K.x, K.b, K.meta, id, e)
    if not deadline then
      remove(K, id, e, 'e')
      removed = removed + 1
    elseif score and score <= now and score % 1 == 0 then
      -- Fell due inside a reported outage: graced once, marked by the
      -- fraction, until the outage's end plus its ttl.
      redis.call('ZADD', K.x, deadline + 0.5, id)
    end
  end
end
return removed
`;

/** The prelude of the read-only scripts: they write nothing. */
const READ_PRELUDE = `#!lua flags=no-writes
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * The change log's epoch and count. While meta is missing (deleted by hand,
 * or expired while idle) the count is the log's last entry, so readers stay
 * where they are until the next change starts a new epoch.
 */
const LOG_POSITION = `
local function log_position(K_META, K_LOG)
  local state = redis.call('HMGET', K_META, 'ep', 'n')
  local n = tonumber(state[2])
  if not n then
    local last = redis.call('XREVRANGE', K_LOG, '+', '-', 'COUNT', 1)[1]
    n = last and tonumber(string.match(last[1], '^(%d+)')) or 0
  end
  return state[1] or '', n
end
`;

/**
 * Lists services: each one's packed records and beat slots.
 *
 * KEYS: p:S, b:S for each service. Returns `{now, p, b, p, b, ...}`.
 */
export const LIST = `${READ_PRELUDE}
local out = {now}
for i = 1, #KEYS do out[i + 1] = redis.call('GET', KEYS[i]) or '' end
return out
`;

/**
 * A listing of every service together with the change log's position.
 *
 * KEYS: svcs, meta, log, then p:S, b:S for each service the caller
 * believes exists. Returns `{now, epoch, n, services, p, b, ...}`; when `services`
 * names one the caller did not pass, it calls again with it.
 */
export const SNAPSHOT = `${READ_PRELUDE}
${LOG_POSITION}
local epoch, n = log_position(KEYS[2], KEYS[3])
local out = {now, epoch, n, redis.call('SMEMBERS', KEYS[1])}
for i = 4, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) or '' end
return out
`;

/**
 * Which of the named services have a live instance: a slot whose expiry is
 * still ahead.
 *
 * KEYS: b:S for each service. ARGV: their names. Returns the live ones.
 */
export const LIVE_SERVICES = `${READ_PRELUDE}
local W = ${SLOT_WIDTH}
local mark = string.format('%013.0f', now)
local out = {}
for i = 1, #KEYS do
  local beats = redis.call('GET', KEYS[i]) or ''
  for off = 1, #beats, W do
    if string.sub(beats, off, off + 12) > mark then
      out[#out + 1] = ARGV[i]
      break
    end
  end
end
return out
`;

/**
 * Reads the change log after a position.
 *
 * KEYS: meta, log. ARGV: the change number to read after, the most to
 * return. Returns `{epoch, n, entries}`: the log's epoch, how many changes
 * it ever numbered, and the entries as `XRANGE` gives them.
 */
export const READ_CHANGES = `#!lua flags=no-writes
${LOG_POSITION}
local epoch, n = log_position(KEYS[1], KEYS[2])
return {epoch, n,
  redis.call('XRANGE', KEYS[2], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])}
`;
