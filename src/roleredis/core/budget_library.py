"""The Redis Function library of shared budgets (:mod:`roleredis.core.budgets` calls it): its
name (:data:`LIBRARY`, versioned: a new data layout is a new name, so an old library and new
data never meet) and source (:data:`SOURCE`). Times are server microseconds (TIME inside the
function).

The log (a sorted set of grants and debts scored by server time) is kept exactly, and beside
it, in the ``sums`` hash, the running counts of the current windows: the grants after the rate
window's cut and the tokens after the token window's, updated on every entry added, lowered
and trimmed. A take trims the entries that left the windows since the last call (each entry
is read once when it leaves: amortized O(1)) and checks the sums; only a refused take walks
the oldest entries of its window, to tell exactly when it could fit. The sums are rebuilt
from the log when they are missing or were kept for other periods (a definition changed), or
when the server's clock went back.

>>> LIBRARY, FUNCTIONS["take"]
('roleredis_budget_2', 'roleredis_budget_2_take')
"""

from __future__ import annotations

__all__ = ["FUNCTIONS", "LIBRARY", "OLD_LIBRARIES", "SOURCE", "VERSION"]

VERSION = 2
LIBRARY = f"roleredis_budget_{VERSION}"
#: Libraries of earlier layouts: deleted where this one is loaded by provisioning.
OLD_LIBRARIES = tuple(f"roleredis_budget_{v}" for v in range(1, VERSION))
FUNCTIONS = {
    name: f"{LIBRARY}_{name}"
    for name in ("take", "report", "give_back", "renew", "leave", "status")
}

SOURCE = f"""#!lua name={LIBRARY}
-- roleredis shared budgets (see roleredis/core/budget_library.py). Times are server
-- microseconds. KEYS end in :log, :holders, :queue, :alive, :sums; the definition, :def, is
-- read (never written) by the functions: listed roles may read it, not change it.

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
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

-- The sums: n (entries in the log), req (grants scored after rcut), tok (tokens of entries
-- scored after tcut), rms and tms (the window lengths they are kept for, us), exp (until when
-- the log and the sums live). Read from the log when missing, kept for other windows, or when
-- a cut would go back (the clock went back).
local function rebuild(log, now, rate_us, tok_us, span)
  local s = {{n = 0, req = 0, tok = 0, rcut = now - rate_us, tcut = now - tok_us, exp = 0,
    changed = true}}
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - span)
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

-- The sums at now. They may still count entries that left the windows since the last trim,
-- so they are never below the windows' true use: a take that fits them fits the windows.
-- Trimmed (the entries that left subtracted, each read once as it leaves, and dropped from
-- the log) when a take does not fit them, or once they are a span behind (the log then holds
-- at most two spans of entries): a refusal is always decided on exact sums.
local function window(log, sums, now, rate_us, tok_us, span, d, need)
  local v = redis.call('HMGET', sums, 'n', 'req', 'rcut', 'tok', 'tcut', 'rms', 'tms', 'exp')
  local s = {{n = tonumber(v[1]), req = tonumber(v[2]), rcut = tonumber(v[3]),
    tok = tonumber(v[4]), tcut = tonumber(v[5]), exp = tonumber(v[8]) or 0, changed = false}}
  if not (s.n and s.req and s.rcut and s.tok and s.tcut) or tonumber(v[6]) ~= rate_us
      or tonumber(v[7]) ~= tok_us or now - rate_us < s.rcut or now - tok_us < s.tcut then
    return rebuild(log, now, rate_us, tok_us, span)
  end
  if (not d.rate or s.req + 1 <= d.rate) and (not d.tokens or s.tok + need <= d.tokens)
      and s.rcut >= now - rate_us - span and s.tcut >= now - tok_us - span then
    return s
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
  return s
end

-- The log and the sums live 2 spans and a second, renewed together (never on every call)
-- when they would not outlive an entry added now, or when the log was recreated.
local function renewing(exp, now, span, fresh)
  if fresh or exp < now + span then return now + (math.floor(span / 1000) * 2 + 1000) * 1000 end
end

local function expire(log, sums, exp, now)
  local keep = math.floor((exp - now) / 1000)
  redis.call('PEXPIRE', log, keep)
  redis.call('PEXPIRE', sums, keep)
end

-- The sums written back: all of them after a trim (or a rebuild), else the counts a grant
-- changed; then the TTLs (the hash may be new).
local function save(log, sums, s, now, rate_us, tok_us, span, fresh)
  local exp = renewing(s.exp, now, span, fresh)
  if s.changed or exp then
    redis.call('HSET', sums, 'n', s.n, 'req', s.req, 'rcut', s.rcut, 'tok', s.tok,
      'tcut', s.tcut, 'rms', rate_us, 'tms', tok_us, 'exp', exp or s.exp)
  elseif s.counted then
    redis.call('HSET', sums, 'n', s.n, 'req', s.req, 'tok', s.tok)
  end
  if exp then expire(log, sums, exp, now) end
end

-- The earliest time at which the window has room for one more request (the k-th oldest
-- grant after the cut leaving it) or for need more tokens (the oldest entries leaving it).
local function room_for_request(log, s, rate, rate_us)
  local k, offset, seen = s.req + 1 - rate, 0, 0
  while true do
    local got = redis.call('ZRANGEBYSCORE', log, s.rcut + 1, '+inf', 'WITHSCORES',
      'LIMIT', offset, 64)
    if #got == 0 then return s.rcut + rate_us end
    for i = 1, #got, 2 do
      local _, debt = parse(got[i])
      if not debt then
        seen = seen + 1
        if seen == k then return tonumber(got[i + 1]) + rate_us end
      end
    end
    offset = offset + #got / 2
  end
end

local function room_for_tokens(log, s, limit, need, tok_us)
  local left, offset = s.tok, 0
  while true do
    local got = redis.call('ZRANGEBYSCORE', log, s.tcut + 1, '+inf', 'WITHSCORES',
      'LIMIT', offset, 64)
    if #got == 0 then return s.tcut + tok_us end
    for i = 1, #got, 2 do
      left = left - parse(got[i])
      if left + need <= limit then return tonumber(got[i + 1]) + tok_us end
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
  local d = definition(log, 'log')
  if not (d.rate or d.tokens or d.concurrency) then return {{-1}} end
  local now = now_us()
  local id, need, wait_left = args[1], tonumber(args[2]), tonumber(args[4])
  if d.tokens and need > d.tokens then return {{-2, d.tokens}} end
  local earliest, reason = now, ''
  local rate_us = d.rate and d.rate_ms * 1000 or 0
  local tok_us = d.tokens and d.tokens_ms * 1000 or 0
  local span = math.max(rate_us, tok_us)
  local s
  if span > 0 then
    s = window(log, sums, now, rate_us, tok_us, span, d, need)
    if d.rate and s.req + 1 > d.rate then
      local at = room_for_request(log, s, d.rate, rate_us)
      if at > earliest then earliest, reason = at, 'rate' end
    end
    if d.tokens and s.tok + need > d.tokens then
      local at = room_for_tokens(log, s, d.tokens, need, tok_us)
      if at > earliest then earliest, reason = at, 'tokens' end
    end
  end
  local full = false
  if d.concurrency and d.concurrency > 0 then
    redis.call('ZREMRANGEBYSCORE', holders, '-inf', now)
    full = redis.call('ZCARD', holders) >= d.concurrency
  end
  local head = redis.call('ZRANGE', queue, 0, 0)[1]
  if head ~= nil then
    local stale = redis.call('ZRANGEBYSCORE', alive, '-inf', now, 'LIMIT', 0, 32)
    for _, m in ipairs(stale) do forget(queue, alive, m) end
    if #stale > 0 then head = redis.call('ZRANGE', queue, 0, 0)[1] end
  end
  local behind = head ~= nil and head ~= id
  if earliest <= now and not full and not behind then
    if span > 0 then
      local fresh = s.n == 0
      s.n = s.n + redis.call('ZADD', log, now, id .. '|' .. need)
      if rate_us > 0 then s.req = s.req + 1 end
      if tok_us > 0 then s.tok = s.tok + need end
      s.counted = true
      save(log, sums, s, now, rate_us, tok_us, span, fresh)
    end
    local place, lease = '', 0
    if d.concurrency and d.concurrency > 0 then
      place, lease = args[3], d.lease_ms
      redis.call('ZADD', holders, now + d.lease_ms * 1000, place)
      redis.call('PEXPIRE', holders, d.lease_ms * 2 + 1000)
    end
    if head ~= nil then forget(queue, alive, id) end
    return {{1, now, place, lease}}
  end
  if span > 0 then save(log, sums, s, now, rate_us, tok_us, span, false) end
  if reason == '' then reason = full and 'concurrency' or 'queue' end
  if wait_left < 0 or earliest - now > wait_left * 1000 then
    forget(queue, alive, id)
    return {{0, earliest, now, reason, 0}}
  end
  redis.call('ZADD', queue, 'NX', now, id)
  redis.call('ZADD', alive, earliest + 2000000, id)
  local keep = math.floor((earliest - now) / 1000) + 60000
  redis.call('PEXPIRE', queue, keep)
  redis.call('PEXPIRE', alive, keep)
  return {{0, earliest, now, reason, 1}}
end)

-- KEYS: log, sums. ARGV: id, estimate, actual. {{now, debt}}: the grant lowered to actual, or
-- the excess logged as debt now (once per grant: a repeated report adds nothing). The sums
-- follow, for the windows they are kept for (a take rebuilds them if the definition changed).
redis.register_function('{FUNCTIONS["report"]}', function(keys, args)
  local log, sums = keys[1], keys[2]
  local now = now_us()
  local id, estimate, actual = args[1], tonumber(args[2]), tonumber(args[3])
  if actual == estimate then return {{now, 0}} end
  local v = redis.call('HMGET', sums, 'n', 'tok', 'tcut', 'rms', 'tms', 'exp')
  local rate_us, tok_us = tonumber(v[4]), tonumber(v[5])
  local kept = v[1] and v[2] and v[3] and rate_us and tok_us
  if not kept then  -- no sums (the next take rebuilds them): the definition says the windows
    local d = definition(log, 'log')
    if not d.tokens then return {{now, 0}} end
    rate_us, tok_us = d.rate and d.rate_ms * 1000 or 0, d.tokens_ms * 1000
  elseif tok_us == 0 then
    return {{now, 0}}  -- tokens not limited
  end
  if actual < estimate then
    local score = redis.call('ZSCORE', log, id .. '|' .. estimate)
    if score then
      redis.call('ZADD', log, score, id .. '|' .. actual)  -- before the ZREM: never emptied
      redis.call('ZREM', log, id .. '|' .. estimate)
      if kept and tonumber(score) > tonumber(v[3]) then
        redis.call('HINCRBY', sums, 'tok', actual - estimate)
      end
    end
    return {{now, 0}}
  end
  local debt = actual - estimate
  local added = redis.call('ZADD', log, 'NX', now, id .. '+|' .. debt)
  local span = math.max(rate_us, tok_us)
  if kept and added == 1 then
    local n = tonumber(v[1]) + 1
    local tok = tonumber(v[2]) + (now > tonumber(v[3]) and debt or 0)
    local exp = renewing(tonumber(v[6]) or 0, now, span, n == 1)
    redis.call('HSET', sums, 'n', n, 'tok', tok, 'exp', exp or tonumber(v[6]))
    if exp then expire(log, sums, exp, now) end
  elseif not kept then
    redis.call('PEXPIRE', log, math.floor(span / 1000) * 2 + 1000)
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
