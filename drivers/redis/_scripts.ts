/**
 * The Lua scripts behind the Redis driver. Every mutation is one script, so
 * it is atomic; every script reads time from Redis (`TIME`), never from a
 * client; every key a script touches arrives in `KEYS` (none is built in
 * Lua), and all of an env's keys share the hash tag `{E}`, so each script
 * touches one Cluster slot.
 *
 * Key layout for prefix `P`, env `E` and service `S`:
 *
 * | key          | type   | holds                                                      |
 * | ------------ | ------ | ---------------------------------------------------------- |
 * | `P{E}:ids`   | hash   | id → `S⇥slot⇥digest⇥seq⇥registeredAt`: where each id lives |
 * | `P{E}:meta`  | hash   | `seq`; `n`, `ep`, `eb`, `rid`: the change log's count, epoch, the count it began after, and the Redis run id it began under; `brid`, `bt`: a Redis run id and when a call in this env first saw it; `out`: reported outages; `pw`: who last purged; `svcs`: the services; per service `d:S` (when it is next due), `h:S`, `f:S`, `c:S`, `g:S` (slots used and free, entries, garbage), `t:S` (the last term), `L:S` (the leader: `id⇥seq⇥term`), `q:S` (grants wait until then after lost data), `k:S` (where a purge pass stands), `x:S` (the latest beat the last pass saw), `m:S` (where flagging slots after lost records stands) |
 * | `P{E}:log`   | stream | the change log, entry ids `n-0`, capped                    |
 * | `P{E}:purge` | string | the purge token (`SET NX PX`)                              |
 * | `P{E}:probe` | string | a listing's test write (`SET PX 1000`), see the driver     |
 * | `P{E}:p:S`   | string | the service's packed records: `gen⏎`, then `id⇥seq⇥registeredAt⇥ttl⇥slot⇥json⏎` |
 * | `P{E}:b:S`   | string | fixed-width beat slots, see below                          |
 * | `P{E}:n:S`   | string | the records a purge pass keeps, while it compacts `p:S`    |
 *
 * Watchers wait on the Pub/Sub channel `P{E}:changed` (no key, so the
 * scripts name it from `meta`'s): a call that records changes publishes
 * `c⇥epoch⇥n` (the first it recorded), and a purge `p⇥…` (see PURGE).
 *
 * A beat slot is 60 bytes: `expiresAt` (13 digits), status (`h`, `w`, `u`, `d`, `m`: see STATUS_CODES), seq
 * (16 digits), 16 hex digits of the owner token's SHA-1, a flag (`-`; `g`
 * graced after an outage; `r` its record must be written again; `R` both) and the
 * grace's end (13 digits).
 *
 * - A heartbeat that finds its slot as it left it (its seq, its owner, no
 *   flag, not expired, same status, and meta is there) rewrites the slot's
 *   expiry and returns: `TIME`, `GETRANGE`, `EXISTS`, `SETRANGE`.
 *   Everything else takes the full path.
 * - A listing is one read-only script that returns each service's two
 *   strings; it shows an entry only while its slot's expiry, written only by
 *   heartbeats, is ahead of Redis's clock. A grace never changes it.
 * - The purge scans a service when its `d:S` falls due, a bounded piece
 *   per call, removes lapsed entries and records their leaves, and sets
 *   `d:S` to the earliest expiry it saw. Beats only move expiries later, so `d:S` stays a lower bound
 *   without a write per beat.
 * - A leave zeroes the slot and leaves the record in `p:S` as garbage (it no
 *   longer matches its slot); once garbage outnumbers live records, a pass
 *   copies the live ones to `n:S` and renames it over `p:S`.
 *
 * @module
 */

import { MAX_TTL_MS } from "../../contract/driver.ts";

/** How many changes each env's log keeps, roughly (trimming is lazy). */
export const CHANGE_LOG_LENGTH = 10_000;
/** The width of one beat slot in `b:S`. */
export const SLOT_WIDTH = 60;
/** An env's log and meta expire after this long without a change or purge. */
export const IDLE_EXPIRY_MS = 24 * 60 * 60 * 1000;
/** How many entries one purge call removes or graces at most. */
export const PURGE_LIMIT = 50;
/** How many records one purge call reads at most. */
export const PURGE_LINES = 400;
/**
 * The largest slots string a pass writes again at its size (see PURGE):
 * below it Redis's growth can double a string, above it adds 1 MB at most.
 */
const FIT_MAX_BYTES = 2 * 1024 * 1024;
/** How many beat slots one campaign call reads at most. */
export const CAMPAIGN_SLOTS = 2_000;
/**
 * How many beat slots one call flags at most after the packed records were
 * lost.
 */
export const MARK_SLOTS = 2_000;
/** How many records (and about as many ids) one repair call reads. */
export const REPAIR_LINES = 100;
/**
 * A call that reaches Redis this much later than it was sent reports an
 * outage, at most: a heartbeat scales it down with its ttl (a sixth), so a
 * short freeze is evidence where the ttl is short too.
 */
export const STALL_MS = 500;
/** The stall a purge reports, whatever the ttls it judges. */
export const PURGE_STALL_MS = 100;
/**
 * How long a purge that saw an outage of its own waits before it removes
 * anything: time for the owners' beats, which report theirs, to land.
 */
export const PURGE_SETTLE_MS = 250;
/** How soon a purge that found no services list at all asks again. */
export const LOST_META_RETRY_MS = 1_000;
/** How many outage windows an env remembers. */
const MAX_WINDOWS = 16;

/** Helpers for the scripts that write; `now`, `now_us` must be set. */
const HELPERS = `
local W = ${SLOT_WIDTH}
local ZERO_SLOT = string.rep('0', W)
local NO_GRACE = string.rep('0', 13)

local function fmt(n) return string.format('%.0f', n) end

-- A slot's fields by position, or nil when it holds nothing.
local function parse_slot(text)
  if #text ~= W then return nil end
  local seq = tonumber(string.sub(text, 15, 30))
  if not seq or seq == 0 then return nil end
  return {exp = tonumber(string.sub(text, 1, 13)) or 0, status = string.sub(text, 14, 14),
    seq = seq, digest = string.sub(text, 31, 46), flag = string.sub(text, 47, 47),
    grace = tonumber(string.sub(text, 48, 60)) or 0}
end

local function read_slot(K_B, slot)
  return parse_slot(redis.call('GETRANGE', K_B, slot * W, slot * W + W - 1))
end

-- Graced once already ('g'; 'R' is graced and its record must be written
-- again), and whether its record must be written again ('r', 'R').
local function graced(flag) return flag == 'g' or flag == 'R' end
local function record_needed(flag) return flag == 'r' or flag == 'R' end

local function slot_text(expires, status, seq, digest, flag, grace)
  return string.format('%013.0f', expires) .. status .. string.format('%016.0f', seq) ..
    digest .. (flag or '-') .. (grace and string.format('%013.0f', grace) or NO_GRACE)
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

-- What a caller says of an outage, by Redis's clock: 'f<from>:<to>:<sent>'
-- when its calls failed from after its last answer (from) until its last
-- failed attempt (to), and it sent this call at 'sent'; 's<sent>' when
-- nothing failed. A sent call that reaches Redis 'stall' ms later waited
-- out a pause or a freeze itself; ordinary latency reports nothing.
-- Returns the outage for everyone (from, to), and until when the caller
-- itself could not reach Redis (its own end: it was backing off until it
-- sent this call).
local function outage_of(since, stall)
  local from, to, sent = string.match(since or '', '^f(%d+):(%d+):(%d+)$')
  if from then
    from, to, sent = tonumber(from), math.min(tonumber(to), now), math.min(tonumber(sent), now)
    if from < to then return from, to, math.max(to, sent) end
    return nil
  end
  sent = tonumber(string.match(since or '', '^s(%d+)$'))
  if sent and now - sent >= stall then return sent, now, now end
  return nil
end

-- INFO server, read once per call ('' where the ACL allows no INFO).
local server_info
local function info()
  if not server_info then
    local reply = redis.pcall('INFO', 'server')
    server_info = type(reply) == 'string' and reply or ''
  end
  return server_info
end

-- This Redis process's run id.
local function this_run()
  return string.match(info(), 'run_id:(%x+)') or ''
end

-- When this Redis process began to hold this env's data as a master: the
-- first call in this env that saw its run id (kept in meta beside that id).
-- Data it knows of from before then came from elsewhere, and later writes
-- to it may have been lost: loaded from disk by a restart, or replicated
-- to a replica that a failover promoted while the old master still took
-- writes. Where meta names no run id, its uptime (whole seconds of its
-- cached clock, so the start may be up to a second later than it says).
-- Without INFO, -1: no such grace.
local boot_at
local function boot(K_META)
  if not boot_at then
    local up = tonumber(string.match(info(), 'uptime_in_seconds:(%d+)'))
    if not up then
      boot_at = -1
    else
      local started = now - math.max(up - 1, 0) * 1000
      local state = redis.call('HMGET', K_META, 'brid', 'bt')
      if state[1] == this_run() then
        boot_at = tonumber(state[2]) or started
      else
        -- Another process wrote here last: this one holds its data now.
        boot_at = state[1] and now or started
        redis.call('HSET', K_META, 'brid', this_run(), 'bt', fmt(boot_at))
      end
    end
  end
  return boot_at
end

-- Grants are held back until then: a leader's record may have been lost.
local function quiet(K_META, service, until_)
  local q = tonumber(redis.call('HGET', K_META, 'q:' .. service)) or 0
  if until_ > q then redis.call('HSET', K_META, 'q:' .. service, fmt(until_)) end
end

local function report(K_META, from, to)
  local list = windows(K_META)
  list[#list + 1] = {from, to}
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

-- Until when an entry's lease runs, or nil once it lapsed; whether that
-- is a grace it has not been marked with yet; and whether the grace is for
-- data this Redis loaded from disk (the entry's last beat it knows of came
-- before it started). A grace is given once between two beats: a slot
-- flagged 'g' gets no other.
local function lease(K_META, s, ttl)
  if s.exp > now then return s.exp, false, false end
  if graced(s.flag) then
    if s.grace > now then return s.grace, false, false end
    return nil, false, false
  end
  local to = outage_end(K_META, s.exp)
  if to and now < to + ttl then return to + ttl, true, false end
  -- Its last beat Redis knows of came before Redis started: data loaded
  -- from disk, whose later refreshes may have been lost with the rest.
  if s.exp - ttl < boot(K_META) and now < boot(K_META) + ttl then
    return boot(K_META) + ttl, true, true
  end
  return nil, false, false
end

local function list_of(text)
  local list = {}
  for item in string.gmatch(text or '', '[^,]+') do list[#list + 1] = item end
  return list
end

local function add_service(K_META, service)
  local names = list_of(redis.call('HGET', K_META, 'svcs'))
  for _, name in ipairs(names) do if name == service then return end end
  names[#names + 1] = service
  table.sort(names)
  redis.call('HSET', K_META, 'svcs', table.concat(names, ','))
end

local function drop_service(K_META, service)
  local kept = {}
  for _, name in ipairs(list_of(redis.call('HGET', K_META, 'svcs'))) do
    if name ~= service then kept[#kept + 1] = name end
  end
  redis.call('HSET', K_META, 'svcs', table.concat(kept, ','))
  redis.call('HDEL', K_META, 'd:' .. service, 'h:' .. service, 'f:' .. service,
    'c:' .. service, 'g:' .. service, 'q:' .. service, 'k:' .. service, 'x:' .. service,
    'm:' .. service)
end

-- Every key of a service's writes lives on while anything beats or
-- purges, and expires a day after the last of it.
local function keep(K)
  boot(K.meta)
  redis.call('PEXPIRE', K.ids, ${IDLE_EXPIRY_MS})
  redis.call('PEXPIRE', K.meta, ${IDLE_EXPIRY_MS})
  redis.call('PEXPIRE', K.log, ${IDLE_EXPIRY_MS})
  redis.call('PEXPIRE', K.p, ${IDLE_EXPIRY_MS})
  redis.call('PEXPIRE', K.b, ${IDLE_EXPIRY_MS})
end

-- Flags the next piece of slots (at most ${MARK_SLOTS}) of a marking that
-- 'm:S' says goes on (the next slot, and the last seq it flags: entries
-- that came after the loss wrote their records into the new string): each
-- entry writes its record again with its next beat, 'r', or 'R' for a
-- graced slot ('g'), which keeps its grace. Returns true once done.
local function mark_records(K, service)
  local state = redis.call('HGET', K.meta, 'm:' .. service)
  local from, last = string.match(state or '', '^(%d+):(%d+)$')
  if not from then return true end
  from, last = tonumber(from), tonumber(last)
  local slots = math.floor(redis.call('STRLEN', K.b) / W)
  local stop = math.min(slots, from + ${MARK_SLOTS})
  if stop > from then
    local beats = redis.call('GETRANGE', K.b, from * W, stop * W - 1)
    local parts, changed = {}, false
    for off = 1, #beats, W do
      local part = string.sub(beats, off, off + W - 1)
      local flag = string.sub(part, 47, 47)
      local seq = tonumber(string.sub(part, 15, 30)) or 0
      if (flag == '-' or flag == 'g') and seq ~= 0 and seq <= last then
        part = string.sub(part, 1, 46) .. (flag == 'g' and 'R' or 'r') .. string.sub(part, 48)
        changed = true
      end
      parts[#parts + 1] = part
    end
    if changed then redis.call('SETRANGE', K.b, from * W, table.concat(parts)) end
  end
  if stop >= slots then
    redis.call('HDEL', K.meta, 'm:' .. service)
    return true
  end
  -- The purge goes on with it.
  redis.call('HSET', K.meta, 'm:' .. service, stop .. ':' .. fmt(last), 'd:' .. service, fmt(now))
  return false
end

-- The packed records were lost: every entry there is now must write its
-- record again, a piece of the slots now and the rest in the purge's
-- next calls (see mark_records), so no call reads them all.
local function mark_records_lost(K, service)
  local last = math.max(tonumber(redis.call('HGET', K.meta, 'seq')) or 0, now_us)
  redis.call('HSET', K.meta, 'm:' .. service, '0:' .. fmt(last))
  return mark_records(K, service)
end

-- The env's Pub/Sub channel for changes and purges: P{E}:changed, named
-- from the meta key (P{E}:meta). A channel is no key, so it is built here.
local function changed_channel(K_META)
  return string.sub(K_META, 1, -5) .. 'changed'
end

-- Appends a change to the env's capped log, numbered without gaps. A new
-- meta hash (first change, or the counter was lost) starts a new epoch, so
-- readers can tell lost changes from trimmed ones; so does the first
-- change a restarted Redis records, since it may have come back from an
-- older snapshot whose numbers readers have already read past.
local function begin_epoch(K_META, K_LOG)
  local last = redis.call('XREVRANGE', K_LOG, '+', '-', 'COUNT', 1)[1]
  local base = last and tonumber(string.match(last[1], '^(%d+)')) or 0
  redis.call('HSET', K_META, 'n', base, 'eb', base, 'ep', fmt(now_us), 'rid', this_run())
end

local epoch_checked = false
local function record(K_META, K_LOG, text)
  -- Once per call: a purge records many leaves.
  local first = not epoch_checked
  local epoch
  if first then
    local state = redis.call('HMGET', K_META, 'n', 'ep', 'rid')
    if not state[1] or not state[2] or (state[3] and state[3] ~= this_run()) then
      begin_epoch(K_META, K_LOG)
      epoch = fmt(now_us)
    else
      epoch = state[2]
      if not state[3] then redis.call('HSET', K_META, 'rid', this_run()) end
    end
  end
  local n = redis.call('HINCRBY', K_META, 'n', 1)
  redis.call('XADD', K_LOG, 'MAXLEN', '~', ${CHANGE_LOG_LENGTH}, n .. '-0', 'c', text)
  if first then
    redis.call('PEXPIRE', K_META, ${IDLE_EXPIRY_MS})
    redis.call('PEXPIRE', K_LOG, ${IDLE_EXPIRY_MS})
    epoch_checked = true
    -- Wakes the env's watchers, once: they read all the call records. A
    -- user without rights to the channel still records (watchers poll).
    redis.pcall('PUBLISH', changed_channel(K_META), 'c\t' .. epoch .. '\t' .. fmt(n))
  end
end

-- Appends a record, creating the packed string when it is missing.
local function append_record(K_P, id, seq, reg, ttl, slot, body)
  if redis.call('EXISTS', K_P) == 0 then redis.call('SET', K_P, fmt(now_us) .. '\\n') end
  redis.call('APPEND', K_P, id .. '\\t' .. fmt(seq) .. '\\t' .. fmt(reg) .. '\\t' .. ttl ..
    '\\t' .. slot .. '\\t' .. body .. '\\n')
end

-- The next whole lines of the packed records from 'offset' (at least one,
-- however long; at most 'max'), each with the offset just past it.
local function next_lines(K_P, offset, max)
  local size, chunk = 16384, ''
  repeat
    chunk = redis.call('GETRANGE', K_P, offset, offset + size - 1)
    if string.find(chunk, '\\n', 1, true) or #chunk < size then break end
    size = size * 4
  until false
  local out, pos = {}, 1
  while #out < max do
    local nl = string.find(chunk, '\\n', pos, true)
    if not nl then break end
    out[#out + 1] = {text = string.sub(chunk, pos, nl - 1), stop = offset + nl}
    pos = nl + 1
  end
  return out
end

-- Writes a whole slot. A slot past the string's end is reached through
-- zeros, never the NUL bytes SETRANGE would pad with, so that every byte
-- of the string is '0' or part of a slot that holds something.
local function write_slot(K_B, slot, text)
  local len = redis.call('STRLEN', K_B)
  if slot * W > len then
    local gap = slot * W - len
    local zeros = ZERO_SLOT
    while #zeros < gap do zeros = zeros .. zeros end
    redis.call('SETRANGE', K_B, len, string.sub(zeros, 1, gap))
  end
  redis.call('SETRANGE', K_B, slot * W, text)
end

-- Whether no slot holds anything. '0' has two bits set and every other
-- byte a slot holds three or more, so Redis counts it (BITCOUNT) without
-- the string ever reaching Lua.
local function slots_empty(K_B)
  return redis.call('BITCOUNT', K_B) == 2 * redis.call('STRLEN', K_B)
end

-- Frees an entry's slot and forgets it; records its leave when 'reason'
-- (an expiry with the lapsed lease's end, 'expires').
local function remove(K, service, id, slot, seq, reason, expires)
  local held = redis.call('HGET', K.ids, id)
  if held and string.match(held, '^([^\\t]+)\\t(%d+)\\t') == service and
    tonumber(string.match(held, '^[^\\t]+\\t(%d+)\\t')) == slot then
    redis.call('HDEL', K.ids, id)
  end
  local s = read_slot(K.b, slot)
  if s and s.seq == seq then
    redis.call('SETRANGE', K.b, slot * W, ZERO_SLOT)
    local free = redis.call('HGET', K.meta, 'f:' .. service)
    redis.call('HSET', K.meta, 'f:' .. service, free and (free .. ',' .. slot) or tostring(slot))
  end
  redis.call('HINCRBY', K.meta, 'g:' .. service, 1)
  if reason then
    record(K.meta, K.log, 'l\\t' .. reason .. '\\t' .. service .. '\\t' .. id .. '\\t' .. fmt(seq) ..
      (expires and ('\\t' .. fmt(expires)) or ''))
    -- Its last instance gone (the count may have been lost with meta, so
    -- the slots have the last word), the service's keys go too.
    if redis.call('HINCRBY', K.meta, 'c:' .. service, -1) <= 0 and
      slots_empty(K.b) then
      redis.call('DEL', K.p, K.b)
      drop_service(K.meta, service)
    end
  end
end
`;

/**
 * Registers or refreshes one instance. Also the heartbeat: it carries the
 * seq and slot it last held, so an entry lost while its lease still ran
 * (data loss) comes back under the same seq, and the term it leads with,
 * which it confirms.
 *
 * KEYS: ids, meta, log, p:S, b:S.
 * ARGV: owner, the slot and seq (16 digits) it last held (or empty), ttl,
 * status (`h`, `w`, `u`, `d`, `m`: see STATUS_CODES), what it saw of an
 * outage (`f…`/`s…`, see `outage_of`, or empty),
 * `id⇥service⇥reason⇥registeredAt⇥expiresAt` (reason `r` registered or `R`
 * reregistered; the times of the lease it last held, or empty), the term
 * it leads with (or empty), and the registration's body (`encodeBody`), or
 * empty: a beat leaves it out, and is asked for it (`body`) only when the
 * record must be written again.
 *
 * Returns `{kind, expiresAt, now, slot, seq, registeredAt, termHeld}` (seq
 * and registeredAt false when `refreshed`; termHeld 1 or 0 when a term was
 * given, else -1); kind is `refreshed`, `created`, `restored`, `conflict`
 * (another live owner holds the id), `moved` (the id's lapsed entry sits
 * in another service, named in place of expiresAt, whose keys this script
 * cannot touch) or `body` (send again with the body).
 */
export const UPSERT = `#!lua
local owner, slot, seq, ttl, status, term = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[8]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local digest = string.sub(redis.sha1hex(owner), 1, 16)
local stall = math.min(${STALL_MS}, math.max(20, math.floor(ttl / 6)))
-- The fast path: the slot is as this owner left it, and a leader's record
-- still names it.
if slot and (ARGV[6] == '' or
  (string.sub(ARGV[6], 1, 1) == 's' and now - tonumber(string.sub(ARGV[6], 2)) < stall)) then
  local off = slot * ${SLOT_WIDTH}
  local cur = redis.call('GETRANGE', KEYS[5], off, off + ${SLOT_WIDTH - 1})
  local fast = string.sub(cur, 14, 47) == status .. seq .. digest .. '-' and
    tonumber(string.sub(cur, 1, 13)) > now
  if fast and term ~= '' then
    local id, service = string.match(ARGV[7], '^([^\\t]*)\\t([^\\t]*)\\t')
    fast = redis.call('HGET', KEYS[2], 'L:' .. service) ==
      id .. '\\t' .. string.format('%.0f', tonumber(seq)) .. '\\t' .. term
  elseif fast then
    -- meta lost (its services list with it): the full path writes it again,
    -- and the id index, which listings need to find anything.
    fast = redis.call('EXISTS', KEYS[2]) == 1
  end
  if fast then
    local expires = now + ttl
    redis.call('SETRANGE', KEYS[5], off, string.format('%013.0f', expires))
    return {'refreshed', expires, now, slot, false, false, term ~= '' and 1 or -1}
  end
end

local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
${HELPERS}
local K = {ids = KEYS[1], meta = KEYS[2], log = KEYS[3], p = KEYS[4], b = KEYS[5]}
local id, service, reason, prev_reg, prev_exp = string.match(ARGV[7],
  '^([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)$')
local body = ARGV[9]
prev_reg, prev_exp = tonumber(prev_reg), tonumber(prev_exp)
local out_from, out_to, own_to = outage_of(ARGV[6], stall)
if out_from then report(K.meta, out_from, out_to) end
-- Its own lapse is no crash when this beat was sent before it (it was held
-- up on the way), or fell while this owner could not reach Redis, even
-- where the outage it reports for everyone ended earlier.
local sent_at = tonumber(string.match(ARGV[6], '(%d+)$'))
local function own_grace(exp)
  if sent_at and sent_at <= exp and now < exp + ttl then return true end
  return out_from and exp >= out_from and exp <= own_to and now < own_to + ttl
end

-- Whether the backend still names this entry leader of 'term'. Where it
-- lost that record (and any record of a later grant) while the entry kept
-- its seq, the entry takes it back: no other could be granted meanwhile,
-- since it was the eldest, or grants were held back (see quiet).
local function term_held(entry_seq)
  if term == '' then return -1 end
  local mine = id .. '\\t' .. fmt(entry_seq) .. '\\t' .. term
  local leader = redis.call('HGET', K.meta, 'L:' .. service)
  if leader == mine then return 1 end
  local leader_term = tonumber(string.match(leader or '', '\\t(%d+)$'))
  local last = tonumber(redis.call('HGET', K.meta, 't:' .. service))
  if entry_seq == tonumber(seq) and (not leader_term or leader_term < tonumber(term)) and
    (not last or last <= tonumber(term)) then
    redis.call('HSET', K.meta, 'L:' .. service, mine, 't:' .. service, term)
    return 1
  end
  return 0
end

-- Who holds the id now: the slot ids names, else the slot this owner held.
local held = redis.call('HGET', K.ids, id)
local h_service, h_slot, h_digest, h_seq, h_reg
if held then
  h_service, h_slot, h_digest, h_seq, h_reg = string.match(held,
    '^([^\\t]+)\\t(%d+)\\t(%x+)\\t(%d+)\\t(%d+)$')
  h_slot, h_seq, h_reg = tonumber(h_slot), tonumber(h_seq), tonumber(h_reg)
end
if h_service and h_service ~= service then return {'moved', h_service, now} end
local e_slot = h_slot or slot
local s = e_slot and read_slot(K.b, e_slot)
if s and h_seq and s.seq ~= h_seq then s = nil end
if s and not h_seq and (s.seq ~= tonumber(seq) or s.digest ~= digest) then s = nil end
local rebuilt = false
if not s and h_slot and h_digest == digest then
  -- The beat slots were lost (a freed slot takes its id out of ids): ids
  -- still knows this owner's slot and seq. Its record may be gone too.
  s = {exp = now + 1, status = status, seq = h_seq, digest = digest, flag = 'r', grace = 0}
  rebuilt = true
end
if s then
  local until_, _, after_boot = lease(K.meta, s, ttl)
  if not until_ and s.digest == digest and own_grace(s.exp) then until_ = now end
  if until_ then
    if s.digest ~= digest then return {'conflict', 0, now} end
    local records_lost = redis.call('EXISTS', K.p) == 0
    if (record_needed(s.flag) or records_lost) and body == '' then return {'body', 0, now} end
    local expires = now + ttl
    local reg = h_reg or prev_reg or now
    if records_lost then mark_records_lost(K, service) end
    write_slot(K.b, e_slot, slot_text(expires, status, s.seq, digest))
    if record_needed(s.flag) or records_lost then
      append_record(K.p, id, s.seq, reg, ttl, e_slot, body)
      redis.call('HINCRBY', K.meta, 'g:' .. service, 1)
      -- A purge that found no records set no due time from them.
      local due = tonumber(redis.call('HGET', K.meta, 'd:' .. service))
      if not due or expires < due then redis.call('HSET', K.meta, 'd:' .. service, expires) end
    end
    if not held then
      redis.call('HSET', K.ids, id, service .. '\\t' .. e_slot .. '\\t' .. digest .. '\\t' ..
        fmt(s.seq) .. '\\t' .. fmt(reg))
    end
    if rebuilt or after_boot or not held then quiet(K.meta, service, now + ttl) end
    add_service(K.meta, service)
    if s.status ~= status then
      record(K.meta, K.log, 'u\\th\\t' .. service .. '\\t' .. id .. '\\t' .. fmt(s.seq) ..
        '\\t' .. status .. '\\t' .. expires)
    end
    keep(K)
    return {'refreshed', expires, now, e_slot, fmt(s.seq), fmt(reg), term_held(s.seq)}
  end
  if body == '' then return {'body', 0, now} end
  -- Lapsed: the id is free, and a returning owner gets a new seq.
  remove(K, service, id, e_slot, s.seq, 'e', s.exp)
elseif held then
  -- ids names a slot that no longer holds the entry.
  redis.call('HDEL', K.ids, id)
end
if body == '' then return {'body', 0, now} end

-- Create, or restore an entry lost while its lease still ran.
local last = tonumber(redis.call('HGET', K.meta, 'seq')) or 0
local kind, new_seq, reg = 'created', nil, now
if tonumber(seq) and prev_reg and prev_exp then
  local to = prev_exp <= now and outage_end(K.meta, prev_exp)
  if not to and prev_exp <= boot(K.meta) then to = boot(K.meta) end
  if prev_exp > now or (to and now < to + ttl) or own_grace(prev_exp) then
    kind, new_seq, reg = 'restored', tonumber(seq), prev_reg
    if last < new_seq then redis.call('HSET', K.meta, 'seq', fmt(new_seq)) end
    quiet(K.meta, service, now + ttl)
  end
end
if not new_seq then
  -- One more than the last, and never below the time in microseconds, so
  -- seqs keep rising even after Redis lost its counter.
  new_seq = math.max(last + 1, now_us)
  redis.call('HSET', K.meta, 'seq', fmt(new_seq))
end

-- A free slot that is really free, else a new one past every slot in use.
local new_slot
local free = list_of(redis.call('HGET', K.meta, 'f:' .. service))
while #free > 0 and not new_slot do
  local candidate = tonumber(table.remove(free, 1))
  if not read_slot(K.b, candidate) then new_slot = candidate end
end
redis.call('HSET', K.meta, 'f:' .. service, table.concat(free, ','))
if not new_slot then
  local mark = tonumber(redis.call('HGET', K.meta, 'h:' .. service)) or 0
  new_slot = math.max(mark, math.floor(redis.call('STRLEN', K.b) / W))
  redis.call('HSET', K.meta, 'h:' .. service, new_slot + 1)
end

local expires = now + ttl
if redis.call('EXISTS', K.p) == 0 then mark_records_lost(K, service) end
append_record(K.p, id, new_seq, reg, ttl, new_slot, body)
if kind == 'restored' then redis.call('HINCRBY', K.meta, 'g:' .. service, 1) end
write_slot(K.b, new_slot, slot_text(expires, status, new_seq, digest))
redis.call('HSET', K.ids, id, service .. '\\t' .. new_slot .. '\\t' .. digest .. '\\t' ..
  fmt(new_seq) .. '\\t' .. fmt(reg))
redis.call('HINCRBY', K.meta, 'c:' .. service, 1)
add_service(K.meta, service)
local due = tonumber(redis.call('HGET', K.meta, 'd:' .. service))
if not due or expires < due then redis.call('HSET', K.meta, 'd:' .. service, expires) end
record(K.meta, K.log, 'j\\t' .. (kind == 'restored' and 'R' or reason) .. '\\t' .. service ..
  '\\t' .. id .. '\\t' .. fmt(new_seq) .. '\\t' .. fmt(reg) .. '\\t' .. ttl .. '\\t' .. status ..
  '\\t' .. expires .. '\\t' .. body)
keep(K)
return {kind, expires, now, new_slot, fmt(new_seq), fmt(reg), kind == 'restored' and term_held(new_seq) or (term ~= '' and 0 or -1)}
`;

/**
 * Removes one instance if the owner holds it.
 *
 * KEYS: ids, meta, log, p:S, b:S. ARGV: owner, id, service.
 * Returns 1 when removed, else 0.
 */
export const DEREGISTER = `#!lua
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
${HELPERS}
local K = {ids = KEYS[1], meta = KEYS[2], log = KEYS[3], p = KEYS[4], b = KEYS[5]}
local owner, id, service = ARGV[1], ARGV[2], ARGV[3]
local held = redis.call('HGET', K.ids, id)
local h_service, h_slot, h_digest, h_seq = string.match(held or '',
  '^([^\\t]+)\\t(%d+)\\t(%x+)\\t(%d+)\\t%d+$')
if h_service ~= service or h_digest ~= string.sub(redis.sha1hex(owner), 1, 16) then return 0 end
remove(K, service, id, tonumber(h_slot), tonumber(h_seq), 'd')
return 1
`;

/**
 * The change log's count: meta's `n`, as read. While meta is missing
 * (deleted by hand, or expired while idle) the log's last entry, so readers
 * stay where they are until the next change starts a new epoch.
 */
const LOG_COUNT = `
local function log_count(K_LOG, recorded)
  local n = tonumber(recorded)
  if n then return n end
  local last = redis.call('XREVRANGE', K_LOG, '+', '-', 'COUNT', 1)[1]
  return last and tonumber(string.match(last[1], '^(%d+)')) or 0
end
`;

/**
 * The services a `svcs` list names, and when each is next due (`d:S`, 0
 * when missing: due now), in one read of meta.
 */
const DUE_TIMES = `
local function due_times(K_META, listed)
  local names, dues = {}, {}
  for name in string.gmatch(listed or '', '[^,]+') do
    names[#names + 1] = name
    dues[#names] = 'd:' .. name
  end
  if #names > 0 then
    for i, at in ipairs(redis.call('HMGET', K_META, unpack(dues))) do
      dues[i] = tonumber(at) or 0
    end
  end
  return names, dues
end

-- The earliest due time of the services a 'svcs' list names: -1 for no
-- service, -2 when the list is missing.
local function earliest_due(K_META, listed)
  local earliest = listed and -1 or -2
  local _, dues = due_times(K_META, listed)
  for _, at in ipairs(dues) do
    if earliest < 0 or at < earliest then earliest = at end
  end
  return earliest
end
`;

/**
 * Takes the env's purge token when a service is due, and says which.
 * Whoever holds the token purges; everyone else returns at once, so expiry
 * work stays the same however many processes watch. Also records an outage
 * this client reports, and says when purging is next worth trying, so
 * watchers sleep until then rather than poll.
 *
 * The last caller that won the token with work to do is recorded (`pw` in
 * meta): it comes back when the next service falls due, the others a little
 * after, so one process purges and the rest only check that it did.
 *
 * KEYS: purge, meta. ARGV: the token's lifetime in ms, since when this
 * client last knew Redis to answer (or empty), who asks (the holder keeps
 * the token while it asks again, so a pass over a big service goes on
 * without a gap), and 1 when a win records the caller as the purger (a
 * watcher's purge) or 0 (a heartbeat's offer).
 * Returns `{now, won, nextDue, tokenTtl, purger, ...dueServices}`: nextDue
 * is the earliest `d:S` of the services not due (-1 for none); for a caller
 * that did not win, the earliest of all, due or not; purger is 1 when the
 * caller is the one recorded.
 */
export const PURGE_SCAN = `#!lua
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
${HELPERS}
${DUE_TIMES}
local K_TOKEN, K_META = KEYS[1], KEYS[2]
local out_from, out_to = outage_of(ARGV[2], ${PURGE_STALL_MS})
if out_from then report(K_META, out_from, out_to) end
local state = redis.call('HMGET', K_META, 'svcs', 'pw')
local listed = state[1]
local names, dues = due_times(K_META, listed)
local due, earliest, soonest = {}, -1, -1
-- No services list at all (meta was lost, or the env is new): ask again
-- soon rather than after the longest wait, for beats rebuild it.
if not listed then earliest, soonest = now + ${LOST_META_RETRY_MS}, now + ${LOST_META_RETRY_MS} end
for i, name in ipairs(names) do
  local at = dues[i]
  if earliest < 0 or at < earliest then earliest = at end
  if at <= now then due[#due + 1] = name
  elseif soonest < 0 or at < soonest then soonest = at end
end
local purger = listed and state[2] == ARGV[3]
-- A heartbeat's offer to purge comes at no set time: it purges what is due
-- but is not recorded, so the purger that comes on time stays the one.
local records = ARGV[4] == '1'
-- Nothing due: nothing to purge, so the token stays free and the purger
-- recorded stays the one that comes on time.
if #due == 0 then return {now, 0, earliest, 0, purger and 1 or 0} end
if not redis.call('SET', K_TOKEN, ARGV[3], 'NX', 'PX', ARGV[1]) then
  if redis.call('GET', K_TOKEN) ~= ARGV[3] then
    return {now, 0, earliest, redis.call('PTTL', K_TOKEN), purger and 1 or 0}
  end
  redis.call('PEXPIRE', K_TOKEN, ARGV[1])
end
if records and not purger then redis.call('HSET', K_META, 'pw', ARGV[3]) end
redis.call('PEXPIRE', K_META, ${IDLE_EXPIRY_MS})
local out = {now, 1, soonest, 0, (records or purger) and 1 or 0}
for _, name in ipairs(due) do out[#out + 1] = name end
return out
`;

/**
 * Scans the named services a bounded piece at a time: removes entries
 * whose lease lapsed (recording each leave), graces once those that fell
 * due inside a reported outage, marks every slot for a record to be
 * written again when the packed records were lost, and sets each service's
 * next due time to the earliest expiry it saw. One call reads at most
 * ${PURGE_LINES} records and removes or graces at most ${PURGE_LIMIT}, so no call
 * blocks Redis for long whatever the fleet; a pass over a bigger service
 * keeps its place in `k:S` and leaves the service due, so the next call
 * goes on from there. A pass copies the records it keeps to `n:S` while
 * garbage outnumbers them, and renames that over `p:S` at its end.
 *
 * A call that ends its passes publishes it on the env's `changed` channel
 * (`p⇥now⇥due⇥epoch⇥n⇥purger`): Redis's time, the env's earliest due time,
 * the log's epoch and count, and the recorded purger. A follower whose
 * view is at that position learns from it all that a read of the log
 * would tell it, so it need not send one.
 *
 * KEYS: ids, meta, log, then p:S, b:S, n:S for each service.
 * ARGV: since when this client last knew Redis to answer (or empty), then
 * the services. Returns `{next, unfinished}`: the earliest next due time
 * (-1 for none; now while a pass goes on), and 1 while a pass goes on.
 */
export const PURGE = `#!lua
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
${HELPERS}
${LOG_COUNT}
${DUE_TIMES}
local out_from, out_to = outage_of(ARGV[1], ${PURGE_STALL_MS})
if out_from then report(KEYS[2], out_from, out_to) end
local stalled = out_from ~= nil
-- A restarted Redis begins the log's next epoch now (see NEW_EPOCH), so
-- watchers take their fresh snapshot while nothing is changing, not at
-- the next change, which may be a crash's leave.
local recorded = redis.call('HGET', KEYS[2], 'rid')
if recorded and this_run() ~= '' and recorded ~= this_run() then begin_epoch(KEYS[2], KEYS[3]) end
local lines_left, budget = ${PURGE_LINES}, ${PURGE_LIMIT}
local soonest = -1

-- The end of the last outage anyone reported: owners beat again only after it.
local last_end = -1
for _, w in ipairs(windows(KEYS[2])) do
  if w[2] > last_end then last_end = w[2] end
end

-- Where this service's pass stands: the records' generation and the Redis
-- run it began under (either changed: start again), the offset reached,
-- the latest beat seen, the records kept and read, the earliest due time,
-- and whether the kept records are being copied to n:S.
local function pass_of(K, service, gen, start)
  local text = redis.call('HGET', K.meta, 'k:' .. service) or ''
  local g, rid, off, fresh, kept, read, due, copy = string.match(text,
    '^(%d+):(%x*):(%d+):(%-?%d+):(%d+):(%d+):(%-?%d+):([01])$')
  off = tonumber(off)
  if g == gen and rid == this_run() and off and off >= start and
    off <= redis.call('STRLEN', K.p) and
    (off == start or redis.call('GETRANGE', K.p, off - 1, off - 1) == '\\n') and
    (copy == '0' or redis.call('EXISTS', K.n) == 1) then
    return {offset = off, freshest = tonumber(fresh), kept = tonumber(kept), read = tonumber(read),
      due = tonumber(due), copy = copy == '1'}
  end
  local state = redis.call('HMGET', K.meta, 'x:' .. service, 'g:' .. service, 'c:' .. service)
  local garbage, live = tonumber(state[2]) or 0, tonumber(state[3]) or 0
  local p = {offset = start, freshest = tonumber(state[1]) or -1, kept = 0, read = 0, due = -1,
    copy = garbage > 64 and garbage > live}
  if p.copy then redis.call('SET', K.n, gen .. '\\n') end
  return p
end

-- Frees a lapsed entry's slot; its own lapse (ids names it, or nothing)
-- is a leave, a copy left behind by a restore goes quietly.
local function drop(K, service, e, freed)
  local held = redis.call('HGET', K.ids, e.id)
  local h_service, h_slot, h_seq = string.match(held or '', '^([^\\t]+)\\t(%d+)\\t%x+\\t(%d+)\\t')
  -- Its own unless ids names another entry of this service for the id (a
  -- copy a restore left behind). One in another service is a new
  -- registration after ids was lost: this one still leaves.
  local own = not held or h_service ~= service or (tonumber(h_slot) == e.slot and tonumber(h_seq) == e.seq)
  if h_service == service and tonumber(h_slot) == e.slot then redis.call('HDEL', K.ids, e.id) end
  redis.call('SETRANGE', K.b, e.slot * W, ZERO_SLOT)
  freed[#freed + 1] = e.slot
  if own then
    -- With the lapsed lease's end: a view that holds the instance (eviction
    -- protection) shows its last beat, not its registration.
    record(K.meta, K.log, 'l\\te\\t' .. service .. '\\t' .. e.id .. '\\t' .. fmt(e.seq) ..
      '\\t' .. fmt(e.exp))
  end
end

-- SETRANGE grows a string below 1 MB to twice what it then holds, so a
-- service's slots took up to twice their size while it grew. A pass that
-- ends writes them again at their size when they take half as much again
-- (the allocator's own classes are a quarter apart at most). Slots freed
-- are used again, so once a fleet stops growing this holds; strings of
-- 2 MB and more (where growth adds 1 MB at most) are left, so the copy,
-- which replicas and the AOF receive too, stays short.
local function fit(K_B)
  local size = redis.call('STRLEN', K_B)
  if size == 0 or size >= ${FIT_MAX_BYTES} then return end
  -- (A Redis that refuses MEMORY, as some managed ones do, is left as is.)
  local usage = redis.pcall('MEMORY', 'USAGE', K_B, 'SAMPLES', '0')
  if type(usage) == 'number' and usage > size * 1.5 + 512 then
    redis.call('SET', K_B, redis.call('GET', K_B), 'KEEPTTL')
  end
end

local function scan(K, service)
  if redis.call('EXISTS', K.p) == 0 then
    -- The owners' next beats write their records again (and p:S with the
    -- first), each lowering the due time; until then there is nothing to
    -- read.
    redis.call('HDEL', K.meta, 'k:' .. service)
    if slots_empty(K.b) then
      redis.call('DEL', K.b, K.n)
      drop_service(K.meta, service)
      return
    end
    local done
    if redis.call('HEXISTS', K.meta, 'm:' .. service) == 1 then
      done = mark_records(K, service)
    else
      done = mark_records_lost(K, service)
    end
    redis.call('HSET', K.meta, 'c:' .. service, 0, 'd:' .. service,
      fmt(done and now + ${MAX_TTL_MS} or now))
    if not done then soonest, lines_left = now, 0 end
    keep(K)
    return
  end
  -- A marking after lost records goes on before any pass reads them, and
  -- takes this call.
  if not mark_records(K, service) then
    soonest, lines_left = now, 0
    keep(K)
    return
  end
  local gen = string.match(redis.call('GETRANGE', K.p, 0, 63), '^(%d+)\\n') or '0'
  local pass = pass_of(K, service, gen, #gen + 1)
  -- The records from the pass's place on, as far as this call goes: first
  -- those that still match their slot, and the latest beat among them.
  local items = next_lines(K.p, pass.offset, lines_left)
  -- A slot is judged once: a record written again after data loss may sit
  -- beside its old copy (a later call finds the slot freed or kept).
  local taken = {}
  for _, item in ipairs(items) do
    local id, seq, ttl, slot = string.match(item.text, '^([^\\t]+)\\t(%d+)\\t%d+\\t(%d+)\\t(%d+)\\t')
    if id and not taken[tonumber(slot)] then
      local e = read_slot(K.b, tonumber(slot))
      if e and e.seq == tonumber(seq) then
        taken[tonumber(slot)] = true
        e.id, e.ttl, e.slot = id, tonumber(ttl), tonumber(slot)
        item.entry = e
        if e.exp - e.ttl > pass.freshest then pass.freshest = e.exp - e.ttl end
      end
    end
  end
  -- A lapse no beat came after may be a pause or a freeze that ended a
  -- moment ago, with the owners' beats still on their way: it waits for
  -- one (or for a ttl without any), from that beat or from the end of the
  -- last outage, whichever is later.
  local freshest = pass.freshest
  local settled_from = math.max(freshest, last_end)
  local copied, freed = {}, {}
  for _, item in ipairs(items) do
    local e = item.entry
    local until_, fresh, after_boot
    if e then
      until_, fresh, after_boot = lease(K.meta, e, e.ttl)
      if not until_ and stalled and e.exp > out_from - e.ttl / 2 then
        -- This call could not reach Redis a while: neither could the
        -- owner, whose beat, which reports what it saw, comes first.
        until_ = now + ${PURGE_SETTLE_MS}
      elseif not until_ and not graced(e.flag) and freshest < e.exp and
        now < settled_from + e.ttl + math.min(e.ttl / 2, 500) then
        -- (Not one that was graced already and never beat again.) A
        -- caller that saw nothing of a pause may purge first after it: a
        -- lapse waits up to half a ttl (at most 500 ms) longer than a ttl
        -- for a beat, so a whole service that crashed still goes within a
        -- second.
        until_ = math.min(settled_from + e.ttl + math.min(e.ttl / 2, 500), now + ${PURGE_SETTLE_MS})
      elseif not until_ and not graced(e.flag) and e.exp > last_end and e.exp <= last_end + e.ttl / 2 and
        now < last_end + e.ttl then
        -- Lapsed just after an outage ended, as its reporter saw it (its
        -- last failed call; Redis came back a little later): the owner may
        -- still be backing off, and has a ttl from the end to beat.
        until_ = math.min(last_end + e.ttl, now + ${PURGE_SETTLE_MS})
      end
      -- Out of removals: the pass stops before this record.
      if (not until_ or fresh) and budget == 0 then break end
      if until_ and fresh then
        budget = budget - 1
        if after_boot then quiet(K.meta, service, until_) end
        redis.call('SETRANGE', K.b, e.slot * W + 46, 'g' .. string.format('%013.0f', until_))
      end
      if until_ then
        pass.kept = pass.kept + 1
        copied[#copied + 1] = item.text
        if pass.due < 0 or until_ < pass.due then pass.due = until_ end
      else
        budget = budget - 1
        drop(K, service, e, freed)
      end
    end
    lines_left = lines_left - 1
    pass.read = pass.read + 1
    pass.offset = item.stop
  end
  if #freed > 0 then
    local free = redis.call('HGET', K.meta, 'f:' .. service)
    local more = table.concat(freed, ',')
    redis.call('HSET', K.meta, 'f:' .. service, (free and free ~= '') and (free .. ',' .. more) or more)
  end
  if pass.copy and #copied > 0 then
    redis.call('APPEND', K.n, table.concat(copied, '\\n') .. '\\n')
  end
  if pass.offset < redis.call('STRLEN', K.p) then
    -- The pass goes on with the next call.
    redis.call('HSET', K.meta, 'k:' .. service, table.concat({gen, this_run(), pass.offset,
      fmt(pass.freshest), pass.kept, pass.read, fmt(pass.due), pass.copy and '1' or '0'}, ':'),
      'd:' .. service, fmt(now))
    soonest = now
    keep(K)
    if pass.copy then redis.call('PEXPIRE', K.n, ${IDLE_EXPIRY_MS}) end
    return
  end
  redis.call('HDEL', K.meta, 'k:' .. service)
  if pass.kept == 0 and slots_empty(K.b) then
    -- Its last instance is gone: so are its keys.
    redis.call('DEL', K.p, K.b, K.n)
    drop_service(K.meta, service)
    return
  end
  local garbage = pass.read - pass.kept
  if pass.copy then
    redis.call('RENAME', K.n, K.p)
    garbage = 0
  end
  fit(K.b)
  local due = pass.due >= 0 and pass.due or (now + ${MAX_TTL_MS})
  redis.call('HSET', K.meta, 'c:' .. service, pass.kept, 'g:' .. service, garbage,
    'x:' .. service, fmt(pass.freshest), 'd:' .. service, fmt(due))
  if soonest < 0 or due < soonest then soonest = due end
  keep(K)
end

local unfinished = 0
for i = 2, #ARGV do
  if lines_left <= 0 or budget <= 0 then
    -- Out of budget: the services not reached stay due.
    unfinished = 1
    break
  end
  scan({ids = KEYS[1], meta = KEYS[2], log = KEYS[3], p = KEYS[3 * i - 2], b = KEYS[3 * i - 1],
    n = KEYS[3 * i]}, ARGV[i])
end
if soonest == now then unfinished = 1 end
if unfinished == 1 then return {now, 1, ''} end
local state = redis.call('HMGET', KEYS[2], 'svcs', 'ep', 'n', 'pw')
redis.pcall('PUBLISH', changed_channel(KEYS[2]), table.concat({'p', fmt(now),
  fmt(earliest_due(KEYS[2], state[1])), state[2] or '',
  fmt(log_count(KEYS[3], state[3])), state[4] or ''}, '\t'))
return {soonest, 0}
`;

/**
 * Grants leadership of a service: the caller must be the oldest live,
 * healthy instance, and the last leader's lease must be over (it resigned,
 * or its entry lapsed, left, was replaced or turned unhealthy). The term is
 * one more than the service's last, and never below Redis's time in µs, so
 * it rises even after meta was lost.
 *
 * Whether an older instance takes work is read from the beat slots, a
 * bounded piece (${CAMPAIGN_SLOTS} slots) per call: a call that has not reached
 * the last slot returns where to go on, and only the call that reaches it
 * may grant, after checking the last leader's lease. So no call blocks
 * Redis for long, whatever the service's size; an older instance that
 * turns healthy in a piece already read does not stop the grant (the
 * lease rule, which keeps two leaders apart, is checked atomically in the
 * last call).
 *
 * KEYS: ids, meta, log, p:S, b:S. ARGV: owner, id, service, the slot to go
 * on from (0 to begin).
 * Returns `{1, term}` when granted, `{2, slot}` to ask again from that
 * slot, else `{0}`.
 */
export const CAMPAIGN = `#!lua
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
${HELPERS}
local K = {ids = KEYS[1], meta = KEYS[2], log = KEYS[3], p = KEYS[4], b = KEYS[5]}
local owner, id, service, from = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]) or 0

-- Healthy or warning: the statuses that take work (see STATUS_CODES).
local function takes_work(status) return status == 'h' or status == 'w' end

local function live_healthy(an_id, want_seq)
  local held = redis.call('HGET', K.ids, an_id)
  local s_, slot, digest, seq = string.match(held or '', '^([^\\t]+)\\t(%d+)\\t(%x+)\\t(%d+)\\t')
  if s_ ~= service or (want_seq and tonumber(seq) ~= want_seq) then return nil end
  local s = read_slot(K.b, tonumber(slot))
  if not s or s.seq ~= tonumber(seq) or not takes_work(s.status) then return nil end
  if s.exp <= now and not (graced(s.flag) and s.grace > now) then return nil end
  return s, digest
end

local me, digest = live_healthy(id)
if not me or digest ~= string.sub(redis.sha1hex(owner), 1, 16) then return {0} end
-- Entries came back from lost data lately: a leader's record may have gone
-- with it, and its lease may still run.
if now < (tonumber(redis.call('HGET', K.meta, 'q:' .. service)) or 0) then return {0} end
-- An older entry that takes work, in this call's piece of the slots: an
-- expiry still ahead (13 digits compare as text), status h or w, a lower seq.
local slots = math.floor(redis.call('STRLEN', K.b) / W)
local stop = math.min(slots, from + ${CAMPAIGN_SLOTS})
if stop > from then
  local beats = redis.call('GETRANGE', K.b, from * W, stop * W - 1)
  local mark = string.format('%013.0f', now)
  for off = 1, #beats, W do
    if string.sub(beats, off, off + 12) > mark and takes_work(string.sub(beats, off + 13, off + 13)) and
      tonumber(string.sub(beats, off + 14, off + 29)) < me.seq then
      return {0}
    end
  end
end
if stop < slots then return {2, stop} end
local last = redis.call('HGET', K.meta, 'L:' .. service)
local last_id, last_seq = string.match(last or '', '^([^\\t]+)\\t(%d+)\\t')
if last_id and last_id ~= id and live_healthy(last_id, tonumber(last_seq)) then return {0} end
local term = math.max((tonumber(redis.call('HGET', K.meta, 't:' .. service)) or 0) + 1, now_us)
redis.call('HSET', K.meta, 't:' .. service, fmt(term),
  'L:' .. service, id .. '\\t' .. fmt(me.seq) .. '\\t' .. fmt(term))
redis.call('PEXPIRE', K.meta, ${IDLE_EXPIRY_MS})
return {1, fmt(term)}
`;

/**
 * Ends a leadership if the caller still holds that term.
 *
 * KEYS: ids, meta. ARGV: owner, id, service, term. Returns 1 when ended.
 */
export const RESIGN = `#!lua
local K_IDS, K_META = KEYS[1], KEYS[2]
local owner, id, service, term = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local last = redis.call('HGET', K_META, 'L:' .. service)
local last_id, last_term = string.match(last or '', '^([^\\t]+)\\t%d+\\t(%d+)$')
if last_id ~= id or last_term ~= term then return 0 end
local held = redis.call('HGET', K_IDS, id)
local digest = string.match(held or '', '^[^\\t]+\\t%d+\\t(%x+)\\t')
if digest and digest ~= string.sub(redis.sha1hex(owner), 1, 16) then return 0 end
redis.call('HDEL', K_META, 'L:' .. service)
return 1
`;

/**
 * A listing's test write: sets the probe key, and declares every key a
 * heartbeat of the listed services touches, so that whatever refuses
 * those beats (a write pause, a Cluster slot half moved to another master)
 * refuses this too.
 *
 * KEYS: probe, ids, meta, log, then p:S, b:S for each service. Returns 1.
 */
export const PROBE = `#!lua
redis.call('SET', KEYS[1], '1', 'PX', 1000)
return 1
`;

/** The prelude of the read-only scripts: they write nothing. */
const READ_PRELUDE = `#!lua flags=no-writes
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * What a listing reads beside the services' strings, which it reads with
 * plain `GET`s pipelined after this: Redis's time, how many ids the env
 * holds (fewer than it lists means the id index was lost), and, given meta
 * and log, the change log's position and the services. Read first, so every
 * change after the position is in the strings read after it, or comes after.
 *
 * KEYS: ids, and optionally meta, log.
 * Returns `{now, entries}` or `{now, entries, epoch, n, services, stale}`
 * (stale 1 when Redis restarted since the epoch began).
 */
export const READ_STATE = `${READ_PRELUDE}
${LOG_COUNT}
local out = {now, redis.call('HLEN', KEYS[1])}
if KEYS[2] then
  local position = redis.call('HMGET', KEYS[2], 'ep', 'n')
  out[3], out[4] = position[1] or '', log_count(KEYS[3], position[2])
  out[5] = redis.call('HGET', KEYS[2], 'svcs') or ''
  -- Whether Redis restarted since the epoch began (see NEW_EPOCH).
  local recorded = redis.call('HGET', KEYS[2], 'rid')
  local info = redis.pcall('INFO', 'server')
  local run = type(info) == 'string' and string.match(info, 'run_id:(%x+)')
  out[6] = (recorded and run and recorded ~= run) and 1 or 0
end
return out
`;

/**
 * Begins a new change-log epoch if Redis restarted since the current one
 * began: a snapshot taken after a restart then starts in the epoch the
 * next change is recorded in, rather than in one about to end.
 *
 * KEYS: meta, log. Returns 1.
 */
export const NEW_EPOCH = `#!lua
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
${HELPERS}
local recorded = redis.call('HGET', KEYS[1], 'rid')
if recorded and this_run() ~= '' and recorded ~= this_run() then begin_epoch(KEYS[1], KEYS[2]) end
return 1
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
 * Reads the change log after a position, and when purging is next due, so
 * a follower's purge that would find nothing due need not be sent.
 *
 * KEYS: meta, log. ARGV: the change number to read after, the most to
 * return, and who asks (as in PURGE_SCAN).
 * Returns `{epoch, n, entries, base, now, nextDue, purger}`: the log's
 * epoch, how many changes it ever numbered, the entries as `XRANGE` gives
 * them, the number the epoch began after (-1 when unknown), Redis's time,
 * the earliest `d:S` (-1 for no service, -2 while the services list is
 * missing), and 1 when the caller is the env's recorded purger.
 */
export const READ_CHANGES = `${READ_PRELUDE}
${LOG_COUNT}
${DUE_TIMES}
-- One read of meta for the log's position and the purge's state.
local state = redis.call('HMGET', KEYS[1], 'ep', 'n', 'eb', 'svcs', 'pw')
return {state[1] or '', log_count(KEYS[2], state[2]),
  redis.call('XRANGE', KEYS[2], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2]),
  tonumber(state[3]) or -1, now, earliest_due(KEYS[1], state[4]), state[5] == ARGV[3] and 1 or 0}
`;

/**
 * Puts back what a listing found lost: the id index (from the records and
 * slots of the named services), and the services list (from the id
 * index). Only runs after data loss; listings stay reads otherwise. Each
 * call reads a bounded piece (${REPAIR_LINES} records, and about as many ids)
 * and returns where to go on, so no call blocks Redis for long.
 *
 * KEYS: ids, meta, then p:S, b:S for each service.
 * ARGV: where the scan of the id index stands (`HSCAN`'s cursor: `0` to
 * begin, empty once done), the services, then where each one's records
 * stand (0 to begin, -1 once done).
 * Returns `{cursor, ...offsets}`: where to go on, as in ARGV.
 */
export const REPAIR = `#!lua
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
${HELPERS}
local K_IDS, K_META = KEYS[1], KEYS[2]
local count = (#ARGV - 1) / 2
local lines_left = ${REPAIR_LINES}
local out = {ARGV[1]}
for i = 1, count do
  local service, offset = ARGV[1 + i], tonumber(ARGV[1 + count + i]) or -1
  local K_P, K_B = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  -- An offset that no longer begins a line (the records were compacted
  -- meanwhile) starts the service again.
  if offset > 0 and redis.call('GETRANGE', K_P, offset - 1, offset - 1) ~= '\\n' then offset = 0 end
  if offset == 0 then
    local gen = string.match(redis.call('GETRANGE', K_P, 0, 63), '^(%d+)\\n')
    offset = gen and #gen + 1 or -1
  end
  if offset >= 0 and lines_left > 0 then
    local items, live = next_lines(K_P, offset, lines_left), false
    for _, item in ipairs(items) do
      local id, seq, reg, slot = string.match(item.text, '^([^\\t]+)\\t(%d+)\\t(%d+)\\t%d+\\t(%d+)\\t')
      if id then
        local e = read_slot(K_B, tonumber(slot))
        if e and e.seq == tonumber(seq) and e.exp > now then
          redis.call('HSET', K_IDS, id, service .. '\\t' .. slot .. '\\t' .. e.digest .. '\\t' .. seq ..
            '\\t' .. reg)
          live = true
        end
      end
      offset = item.stop
      lines_left = lines_left - 1
    end
    if live then add_service(K_META, service) end
    if #items == 0 or offset >= redis.call('STRLEN', K_P) then offset = -1 end
  end
  out[1 + i] = offset
end
if ARGV[1] ~= '' and lines_left > 0 then
  local reply = redis.call('HSCAN', K_IDS, ARGV[1], 'COUNT', ${REPAIR_LINES})
  local seen = {}
  for j = 2, #reply[2], 2 do
    local service = string.match(reply[2][j], '^([^\\t]+)\\t')
    if service and not seen[service] then
      seen[service] = true
      add_service(K_META, service)
    end
  end
  out[1] = reply[1] == '0' and '' or reply[1]
end
-- What it wrote expires like the rest, once nothing beats.
redis.call('PEXPIRE', K_IDS, ${IDLE_EXPIRY_MS})
redis.call('PEXPIRE', K_META, ${IDLE_EXPIRY_MS})
return out
`;
