"""The Redis Function library of shared budgets (:mod:`roleredis.core.budgets` calls it): its
name (:data:`LIBRARY`, versioned: a new data layout is a new name, so an old library and new
data never meet) and source (:data:`SOURCE`). Times are server microseconds (TIME inside the
function).

The log (a sorted set of grants and debts scored by server time) is kept exactly, and beside
it, in the ``sums`` hash, the running counts of the current windows: the grants after the rate
window's cut and the tokens after the token window's, updated on every entry added, lowered
and trimmed. A take trims the entries that left the windows since the last call (each entry
is read once when it leaves: amortized O(1)) and checks the sums; only a refused take walks
the oldest entries of its window, to tell exactly when it could fit. The sums also keep a
copy of the definition and the time until which a queued waiter may be alive, packed in one
string (:data:`SUMS_FORMAT`, :func:`read_sums`), so that a take that fits makes four calls
(TIME, GET, ZADD, SET) whose replies and arguments are few: on Redis 7.0 a ``redis.call``
costs about 1 us plus about 0.25 us per argument or reply element it converts. They are
rebuilt from the log and the definition when they are missing (:func:`roleredis.core.budgets.
define` deletes them, so a new definition holds at once) or when the server's clock went
back.

>>> LIBRARY, FUNCTIONS["take"]
('roleredis_budget_3', 'roleredis_budget_3_take')
"""

from __future__ import annotations

import struct

__all__ = ["FUNCTIONS", "LIBRARY", "OLD_LIBRARIES", "SOURCE", "SUMS_FORMAT", "VERSION", "read_sums"]

VERSION = 3
LIBRARY = f"roleredis_budget_{VERSION}"
#: Libraries of earlier layouts: deleted where this one is loaded by provisioning.
OLD_LIBRARIES = tuple(f"roleredis_budget_{v}" for v in range(1, VERSION))
FUNCTIONS = {
    name: f"{LIBRARY}_{name}"
    for name in ("take", "report", "give_back", "renew", "leave", "status")
}

#: The sums' layout (struct, in Lua and in Python): 14 little-endian doubles, exact for whole
#: microseconds since the epoch and for counts below 2**53.
SUMS_FORMAT = "<dddddddddddddd"
SUMS_SIZE = struct.calcsize(SUMS_FORMAT)
_SUMS_FIELDS = (
    "layout", "n", "req", "rcut", "tok", "tcut", "exp", "wq",
    "rate", "rms", "tokens", "tms", "conc", "lease",
)  # fmt: skip


def read_sums(blob: bytes | None) -> dict[str, int] | None:
    """A budget's running sums as the functions keep them (None: missing or another layout);
    a server without Lua's struct library (fakeredis) keeps them as text (``T`` and the numbers).

    >>> read_sums(struct.pack(SUMS_FORMAT, VERSION, 2, 1, 0, 5, 0, 0, 0, 9, 10, 0, 0, 0, 0))["tok"]
    5
    >>> read_sums(f"T {VERSION} 2 1 0 5 0 0 0 9 10 0 0 0 0".encode())["rate"]
    9
    """
    if blob is not None and blob.startswith(b"T "):
        numbers = [int(x) for x in blob[2:].split()]
        if len(numbers) != len(_SUMS_FIELDS):
            return None
        values = dict(zip(_SUMS_FIELDS, numbers, strict=True))
        return values if values["layout"] == VERSION else None
    if blob is None or len(blob) != SUMS_SIZE:
        return None
    values = dict(
        zip(_SUMS_FIELDS, (int(v) for v in struct.unpack(SUMS_FORMAT, blob)), strict=True)
    )
    return values if values["layout"] == VERSION else None


SOURCE = f"""#!lua name={LIBRARY}
-- roleredis shared budgets (see roleredis/core/budget_library.py). Times are server
-- microseconds. KEYS end in :log, :holders, :queue, :alive, :sums; the definition, :def, is
-- read (never written) by the functions: listed roles may read it, not change it.

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- now, and now as text for a score: built from TIME's strings (a number given to redis.call is
-- formatted with %.17g, which costs about a microsecond).
local function now_and_text()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2]), t[1] .. string.sub('00000' .. t[2], -6)
end

-- Numbers go to redis.call as they are: Redis writes them with %.17g, exact for whole
-- microseconds (formatting them in Lua costs more than the command). Scores are whole
-- microseconds, so the exclusive bound after x is written x + 1.

local function definition(key, part)
  local v = redis.call('HMGET', string.sub(key, 1, #key - #part) .. 'def',
    'rate', 'rate_ms', 'tokens', 'tokens_ms', 'concurrency', 'lease_ms')
  return {{rate = tonumber(v[1]), rate_ms = tonumber(v[2]), tokens = tonumber(v[3]),
    tokens_ms = tonumber(v[4]), concurrency = tonumber(v[5]), lease_ms = tonumber(v[6])}}
end

-- entry "<id>|<tokens>" (a grant) or "<id>+|<tokens>" (a debt)
local function parse(m)
  local bar = string.find(m, '|', 1, true)
  return tonumber(string.sub(m, bar + 1)), string.sub(m, bar - 1, bar - 1) == '+'
end

local function forget(queue, alive, id)
  redis.call('ZREM', queue, id)
  redis.call('ZREM', alive, id)
end

-- The sums (a string beside the log: 14 little-endian doubles, SUMS_FORMAT, read and written
-- whole: one reply to convert instead of a field each, which is what a redis.call costs):
-- the layout mark (VERSION), n (entries in the log), req (grants scored after rcut), tok
-- (tokens of entries scored after tcut), exp (until when the log and the sums live), wq (until
-- when a queued waiter may be alive: the queue is looked at only until then), and a copy of
-- the definition, read when the sums are built: rate and tokens (0: not limited), rms and tms
-- (their windows, us), conc, lease (ms). They are built from the log and the definition when
-- missing or unreadable (`roleredis budget set` deletes them, so that a new definition holds at
-- once) or when a cut would go back (the clock went back).
-- The sums packed with Lua's struct library, or where a server has none (fakeredis) as text;
-- which one is found at the first call (a library's load sees only the redis API).
local packed = nil

local function has_struct()
  if packed == nil then packed = pcall(function() return struct.pack end) end
  return packed
end

local function pack_sums(...)
  if has_struct() then return struct.pack('{SUMS_FORMAT}', ...) end
  local v = {{...}}
  for i = 1, #v do v[i] = string.format('%d', v[i]) end
  return 'T ' .. table.concat(v, ' ')
end

local function unpack_sums(blob)
  if has_struct() then
    if #blob == {SUMS_SIZE} then return struct.unpack('{SUMS_FORMAT}', blob) end
    return
  end
  if string.sub(blob, 1, 2) ~= 'T ' then return end
  local v = {{}}
  for x in string.gmatch(blob, '%-?%d+') do v[#v + 1] = tonumber(x) end
  if #v == 14 then return (table.unpack or unpack)(v) end
end

local function read_sums(sums)
  local blob = redis.pcall('GET', sums)
  if type(blob) ~= 'string' then return nil end
  local mark, n, req, rcut, tok, tcut, exp, wq, rate, rate_us, tokens, tok_us, conc, lease =
    unpack_sums(blob)
  if mark ~= {VERSION} then return nil end
  return {{n = n, req = req, rcut = rcut, tok = tok, tcut = tcut, exp = exp, wq = wq,
    rate = rate, rate_us = rate_us, tokens = tokens, tok_us = tok_us, conc = conc,
    lease = lease, span = math.max(rate_us, tok_us), changed = false}}
end

local function rebuild(log, alive, now, d)
  local rate_us = d.rate and d.rate_ms * 1000 or 0
  local tok_us = d.tokens and d.tokens_ms * 1000 or 0
  local s = {{n = 0, req = 0, tok = 0, rcut = now - rate_us, tcut = now - tok_us, exp = 0,
    wq = 0, rate = d.rate or 0, rate_us = rate_us, tokens = d.tokens or 0, tok_us = tok_us,
    conc = d.concurrency or 0, lease = d.lease_ms or 0, span = math.max(rate_us, tok_us),
    changed = true}}
  local last = redis.call('ZRANGE', alive, -1, -1, 'WITHSCORES')
  if last[2] then s.wq = tonumber(last[2]) end
  if s.span == 0 then return s end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - s.span)
  local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    local n, debt = parse(entries[i])
    local at = tonumber(entries[i + 1])
    s.n = s.n + 1
    if rate_us > 0 and not debt and at > s.rcut then s.req = s.req + 1 end
    if tok_us > 0 and at > s.tcut then s.tok = s.tok + n end
  end
  return s
end

-- A take's state at now: the sums as kept, or built. nil: the budget has no definition.
local function state(log, sums, alive, now)
  local s = read_sums(sums)
  if s and now - s.rate_us >= s.rcut and now - s.tok_us >= s.tcut then return s end
  local d = definition(log, 'log')
  if not (d.rate or d.tokens or d.concurrency) then return nil end
  return rebuild(log, alive, now, d)
end

-- The sums may still count entries that left the windows since the last trim, so they are
-- never below the windows' true use: a take that fits them fits the windows. Trimmed (the
-- entries that left subtracted, each read once as it leaves, and dropped from the log) when a
-- take does not fit them, or once they are a span behind (the log then holds at most two
-- spans of entries): a refusal is always decided on exact sums.
local function trim(log, s, now, need)
  local rate_us, tok_us, span = s.rate_us, s.tok_us, s.span
  if (s.rate == 0 or s.req + 1 <= s.rate) and (s.tokens == 0 or s.tok + need <= s.tokens)
      and s.rcut >= now - rate_us - span and s.tcut >= now - tok_us - span then
    return
  end
  local rcut, tcut, drop = now - rate_us, now - tok_us, false
  if rate_us > 0 and rcut > s.rcut then
    local gone = redis.call('ZRANGEBYSCORE', log, s.rcut + 1, rcut)
    for _, m in ipairs(gone) do
      local n, debt = parse(m)
      if not debt then s.req = s.req - 1 end
      if rate_us == tok_us then s.tok = s.tok - n end
    end
    if rate_us == span and #gone > 0 then drop = true end
    s.changed = true
  end
  if tok_us > 0 and tcut > s.tcut and rate_us ~= tok_us then
    local gone = redis.call('ZRANGEBYSCORE', log, s.tcut + 1, tcut)
    for _, m in ipairs(gone) do s.tok = s.tok - parse(m) end
    if tok_us == span and #gone > 0 then drop = true end
    s.changed = true
  end
  s.rcut, s.tcut = rcut, tcut
  if drop then
    s.n = s.n - redis.call('ZREMRANGEBYSCORE', log, '-inf', now - span)
  end
end

-- The log and the sums live 2 spans (a budget with concurrency alone: 2 leases) and a second,
-- renewed together (never on every call) when they would not outlive an entry added now, or
-- when the log was recreated.
local function renewing(exp, now, span, fresh)
  if fresh or exp < now + span then return now + (math.floor(span / 1000) * 2 + 1000) * 1000 end
end

-- The sums written back when built, trimmed, counted or a waiter's mark moved, with the
-- TTLs of both keys when renewed (else the sums keep theirs).
local function save(log, sums, s, now)
  local exp = renewing(s.exp, now, s.span > 0 and s.span or s.lease * 1000, s.fresh)
  if not (s.changed or s.counted or exp) then return end
  local blob = pack_sums({VERSION}, s.n, s.req, s.rcut, s.tok, s.tcut, exp or s.exp,
    s.wq, s.rate, s.rate_us, s.tokens, s.tok_us, s.conc, s.lease)
  if exp then
    local keep = math.floor((exp - now) / 1000)
    redis.call('SET', sums, blob, 'PX', keep)
    redis.call('PEXPIRE', log, keep)
  else
    redis.call('SET', sums, blob, 'KEEPTTL')
  end
end

-- The earliest time at which the window has room for one more request (the k-th oldest
-- grant after the cut leaving it) or for need more tokens (the oldest entries leaving it).
local function room_for_request(log, s)
  local k, offset, seen = s.req + 1 - s.rate, 0, 0
  while true do
    local got = redis.call('ZRANGEBYSCORE', log, s.rcut + 1, '+inf', 'WITHSCORES',
      'LIMIT', offset, 64)
    if #got == 0 then return s.rcut + s.rate_us end
    for i = 1, #got, 2 do
      local _, debt = parse(got[i])
      if not debt then
        seen = seen + 1
        if seen == k then return tonumber(got[i + 1]) + s.rate_us end
      end
    end
    offset = offset + #got / 2
  end
end

local function room_for_tokens(log, s, need)
  local left, offset = s.tok, 0
  while true do
    local got = redis.call('ZRANGEBYSCORE', log, s.tcut + 1, '+inf', 'WITHSCORES',
      'LIMIT', offset, 64)
    if #got == 0 then return s.tcut + s.tok_us end
    for i = 1, #got, 2 do
      left = left - parse(got[i])
      if left + need <= s.tokens then return tonumber(got[i + 1]) + s.tok_us end
    end
    offset = offset + #got / 2
  end
end

-- KEYS: log, holders, queue, alive, sums. ARGV: id, tokens, place ('' : none wanted), wait
-- left ms (-1: not waiting). {{1, now, place, lease ms}}: granted. {{0, earliest, now, reason,
-- queued}}: refused (when the window has room, exact; reason: rate, tokens, concurrency,
-- queue). {{-1}}: no definition. {{-2, limit}}: more tokens than the limit.
redis.register_function('{FUNCTIONS["take"]}', function(keys, args)
  local log, holders, queue, alive, sums = keys[1], keys[2], keys[3], keys[4], keys[5]
  local now, at = now_and_text()
  local s = state(log, sums, alive, now)
  if not s then return {{-1}} end
  local id, need, wait_left = args[1], tonumber(args[2]), tonumber(args[4])
  if s.tokens > 0 and need > s.tokens then return {{-2, s.tokens}} end
  local earliest, reason = now, ''
  if s.span > 0 then
    trim(log, s, now, need)
    if s.rate > 0 and s.req + 1 > s.rate then
      local at = room_for_request(log, s)
      if at > earliest then earliest, reason = at, 'rate' end
    end
    if s.tokens > 0 and s.tok + need > s.tokens then
      local at = room_for_tokens(log, s, need)
      if at > earliest then earliest, reason = at, 'tokens' end
    end
  end
  local full = false
  if s.conc > 0 then
    redis.call('ZREMRANGEBYSCORE', holders, '-inf', now)
    full = redis.call('ZCARD', holders) >= s.conc
  end
  local head = nil
  if s.wq >= now then  -- a waiter may be queued
    head = redis.call('ZRANGE', queue, 0, 0)[1]
    if head ~= nil then
      local stale = redis.call('ZRANGEBYSCORE', alive, '-inf', now, 'LIMIT', 0, 32)
      for _, m in ipairs(stale) do forget(queue, alive, m) end
      if #stale > 0 then head = redis.call('ZRANGE', queue, 0, 0)[1] end
    end
  end
  local behind = head ~= nil and head ~= id
  if earliest <= now and not full and not behind then
    if s.span > 0 then
      s.fresh = s.n == 0
      s.n = s.n + redis.call('ZADD', log, at, id .. '|' .. args[2])
      if s.rate_us > 0 then s.req = s.req + 1 end
      if s.tok_us > 0 then s.tok = s.tok + need end
      s.counted = true
    end
    save(log, sums, s, now)
    local place, lease = '', 0
    if s.conc > 0 then
      place, lease = args[3], s.lease
      redis.call('ZADD', holders, now + s.lease * 1000, place)
      redis.call('PEXPIRE', holders, s.lease * 2 + 1000)
    end
    if head ~= nil then forget(queue, alive, id) end
    return {{1, now, place, lease}}
  end
  if reason == '' then reason = full and 'concurrency' or 'queue' end
  if wait_left < 0 or earliest - now > wait_left * 1000 then
    forget(queue, alive, id)
    save(log, sums, s, now)
    return {{0, earliest, now, reason, 0}}
  end
  redis.call('ZADD', queue, 'NX', now, id)
  redis.call('ZADD', alive, earliest + 2000000, id)
  local keep = math.floor((earliest - now) / 1000) + 60000
  redis.call('PEXPIRE', queue, keep)
  redis.call('PEXPIRE', alive, keep)
  if earliest + 2000000 > s.wq then s.wq, s.changed = earliest + 2000000, true end
  save(log, sums, s, now)
  return {{0, earliest, now, reason, 1}}
end)

-- KEYS: log, sums. ARGV: id, estimate, actual. {{now, debt}}: the grant lowered to actual, or
-- the excess logged as debt now (once per grant: a repeated report adds nothing). The sums
-- follow, for the windows they are kept for (a take rebuilds them if the definition changed).
redis.register_function('{FUNCTIONS["report"]}', function(keys, args)
  local log, sums = keys[1], keys[2]
  local now, at = now_and_text()
  local id, estimate, actual = args[1], tonumber(args[2]), tonumber(args[3])
  if actual == estimate then return {{now, 0}} end
  local s = read_sums(sums)
  local tok_us = s and s.tok_us
  if not s then  -- no sums (the next take rebuilds them): the definition says the windows
    local d = definition(log, 'log')
    if not d.tokens then return {{now, 0}} end
    tok_us = d.tokens_ms * 1000
    if d.rate then tok_us = math.max(tok_us, d.rate_ms * 1000) end
  elseif tok_us == 0 then
    return {{now, 0}}  -- tokens not limited
  end
  if actual < estimate then
    local score = redis.call('ZSCORE', log, id .. '|' .. estimate)
    if score then
      redis.call('ZADD', log, score, id .. '|' .. actual)  -- before the ZREM: never emptied
      redis.call('ZREM', log, id .. '|' .. estimate)
      if s and tonumber(score) > s.tcut then
        s.tok, s.counted = s.tok + actual - estimate, true
        save(log, sums, s, now)
      end
    end
    return {{now, 0}}
  end
  local debt = actual - estimate
  local added = redis.call('ZADD', log, 'NX', at, id .. '+|' .. debt)
  if s and added == 1 then
    s.n, s.fresh, s.counted = s.n + 1, s.n == 0, true
    if now > s.tcut then s.tok = s.tok + debt end
    save(log, sums, s, now)
  elseif not s then
    redis.call('PEXPIRE', log, math.floor(tok_us / 1000) * 2 + 1000)
  end
  return {{now, debt}}
end)

-- ARGV: place. {{1 or 0, now}}: given back, or no longer held (expired).
redis.register_function('{FUNCTIONS["give_back"]}', function(keys, args)
  return {{redis.call('ZREM', keys[1], args[1]), now_us()}}
end)

-- ARGV: place. 1: renewed for the budget's lease; 0: no longer held (expired).
redis.register_function('{FUNCTIONS["renew"]}', function(keys, args)
  local d = definition(keys[1], 'holders')
  local now = now_us()
  local score = redis.call('ZSCORE', keys[1], args[1])
  if not score or tonumber(score) <= now or not d.lease_ms then return 0 end
  redis.call('ZADD', keys[1], 'XX', now + d.lease_ms * 1000, args[1])
  redis.call('PEXPIRE', keys[1], d.lease_ms * 2 + 1000)
  return 1
end)

-- ARGV: id. A waiter that gives up leaves the queue.
redis.register_function('{FUNCTIONS["leave"]}', function(keys, args)
  forget(keys[1], keys[2], args[1])
  return 1
end)

-- {{now, requests, tokens, debt, holders, waiters}} in the current windows, read from the log.
redis.register_function{{function_name='{FUNCTIONS["status"]}', flags={{'no-writes'}},
    callback=function(keys)
  local d = definition(keys[1], 'log')
  local now = now_us()
  local rate_us = d.rate and d.rate_ms * 1000 or 0
  local tok_us = d.tokens and d.tokens_ms * 1000 or 0
  local span = math.max(rate_us, tok_us)
  local req, tok, debt = 0, 0, 0
  local entries = redis.call('ZRANGEBYSCORE', keys[1], now - span + 1, '+inf', 'WITHSCORES')
  for i = 1, #entries, 2 do
    local n, is_debt = parse(entries[i])
    local s = tonumber(entries[i + 1])
    if not is_debt and s > now - rate_us then req = req + 1 end
    if s > now - tok_us then
      if is_debt then debt = debt + n else tok = tok + n end
    end
  end
  local holders = redis.call('ZCOUNT', keys[2], now + 1, '+inf')
  local waiters = redis.call('ZCOUNT', keys[4], now + 1, '+inf')
  return {{now, req, tok, debt, holders, waiters}}
end}}
"""
