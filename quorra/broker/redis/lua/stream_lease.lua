-- stream_lease: the whole lease, in Redis: promote due delayed jobs, pop the best ready ones,
-- deliver each through the stream's consumer group and record its lease. No Postgres here.
-- KEYS[1]  ready    ZSET    score -priority, member "<run_at_us:017>:<job>:<seq>"
-- KEYS[2]  delayed  ZSET    score due ms, member "<ready member>:<priority>"
-- KEYS[3]  stream   STREAM  group ARGV[1]; entries {j = job, l = lease id}
-- KEYS[4]  idx      HASH    job -> seq of its live entry
-- KEYS[5]  bodies   HASH    job -> encoded body
-- KEYS[6]  leases   HASH    job -> "lease|entry|deadline_ms|seq|leased_ms|worker"
-- KEYS[7]  paused   STRING  set while the queue is paused: nothing is handed out (wait -1)
-- KEYS[8]  limits   HASH    the queue's limits, mirrored from Postgres: c = max concurrency
--                           (leases held at once: HLEN leases), r = leases per rate window,
--                           p = the window in ms
-- KEYS[9]  rate     STRING  leases in the current rate window (expires with the window)
-- ARGV[1]  group, ARGV[2] consumer (one per server process), ARGV[3] want,
-- ARGV[4]  how many due delayed jobs to promote at most, ARGV[5] ttl ms,
-- ARGV[6]  horizon ms (the reclaim min-idle; >= every ttl), ARGV[7] worker id,
-- ARGV[8]  24 random hex digits: lease id n is the UUID "s[1-8]-s[9-12]-4s[13-15]-8s[16-18]-
--          s[19-24]<n as 6 hex digits>" (version 4 layout; unique per call and job)
-- returns  {wait_ms, now_ms, deadline_ms, leases}: wait_ms 0 if more are ready, ms until the
--          next delayed job is due or the spent rate window ends, or -1 (nothing, or the
--          concurrency limit is reached: a settle wakes lessees); leases one JSON text [[job, seq, lease, entry, body,
--          deadline_ms], ...] (bodies are JSON already: the server decodes the batch in one call)
-- A body ending in a time limit (",<timeout ms>]", 0: none) cuts its lease's deadline to
-- now + the limit: the job's deadline, which no lease of this attempt outlives.
-- Each delivered entry's idle time is set to horizon - its ttl (XCLAIM IDLE), so it reaches the
-- horizon exactly at its deadline: XAUTOCLAIM with min-idle = horizon finds expired leases
-- whatever their ttl. A popped member whose seq is not idx's (superseded, or its job deleted)
-- is dropped; one without a body is dropped and its idx field cleared (the sweep re-proposes).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[7]) == 1 then
  return {-1, now, now, '[]'}
end
local want = tonumber(ARGV[3])
local limits = redis.call('HMGET', KEYS[8], 'c', 'r', 'p')
if limits[1] then
  want = math.min(want, tonumber(limits[1]) - redis.call('HLEN', KEYS[6]))
end
if limits[2] then
  local left = tonumber(limits[2]) - tonumber(redis.call('GET', KEYS[9]) or '0')
  if left <= 0 then
    return {math.max(1, redis.call('PTTL', KEYS[9])), now, now, '[]'}
  end
  want = math.min(want, left)
end
if want <= 0 then
  return {-1, now, now, '[]'}
end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
for _, m in ipairs(due) do
  local member, prio = string.match(m, '^(.*):(-?%d+)$')
  redis.call('ZADD', KEYS[1], -tonumber(prio), member)
  redis.call('ZREM', KEYS[2], m)
end
local ttl, horizon = tonumber(ARGV[5]), tonumber(ARGV[6])
local deadline = now + ttl
local picked = {}
for _ = 1, 8 do  -- bounded: each round pops at least one member or stops
  if #picked >= want then break end
  local popped = redis.call('ZPOPMIN', KEYS[1], want - #picked)
  if #popped == 0 then break end
  for i = 1, #popped, 2 do
    local job, seq = string.match(popped[i], '^[^:]*:([^:]*):(%d+)$')
    if job and redis.call('HGET', KEYS[4], job) == seq then
      local body = redis.call('HGET', KEYS[5], job)
      if body then
        picked[#picked + 1] = {job, seq, body}
      else
        redis.call('HDEL', KEYS[4], job)
      end
    end
  end
end
local out = {-1, now, deadline, '[]'}
local leased = {}
local seed = ARGV[8]
local function lease_id(n)
  return string.format('%s-%s-4%s-8%s-%s%06x', string.sub(seed, 1, 8), string.sub(seed, 9, 12),
                       string.sub(seed, 13, 15), string.sub(seed, 16, 18),
                       string.sub(seed, 19, 24), n)
end
if #picked > 0 then
  if redis.call('EXISTS', KEYS[3]) == 0 then
    redis.call('XGROUP', 'CREATE', KEYS[3], ARGV[1], '0', 'MKSTREAM')
  end
  local mine = {}
  for i, p in ipairs(picked) do
    p[4] = lease_id(i)
    local id = redis.call('XADD', KEYS[3], '*', 'j', p[1], 'l', p[4])
    mine[id] = i
  end
  for _ = 1, 3 do
    local read = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', #picked,
                             'STREAMS', KEYS[3], '>')
    if type(read) == 'table' and read.err then  -- the stream lost its group: recreate it
      redis.pcall('XGROUP', 'CREATE', KEYS[3], ARGV[1], '0')
      read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', #picked,
                        'STREAMS', KEYS[3], '>')
    end
    if not read or not read[1] then break end
    local entries = read[1][2]
    if type(read[1]) ~= 'table' then  -- an in-process fake replies {key, entries} unnested
      entries = read[2]
    end
    local left = 0
    for _, e in ipairs(entries) do
      local i = mine[e[1]]
      if i then
        local p = picked[i]
        local until_ = deadline
        local limit = tonumber(string.match(p[3], ',(%d+)%]$') or '0')
        if limit > 0 and now + limit < until_ then
          until_ = now + limit
        end
        redis.call('XCLAIM', KEYS[3], ARGV[1], ARGV[2], 0, e[1], 'IDLE', horizon - (until_ - now),
                   'JUSTID')
        redis.call('HSET', KEYS[6], p[1], table.concat(
          {p[4], e[1], until_, p[2], now, ARGV[7]}, '|'))
        leased[#leased + 1] = '["' .. p[1] .. '",' .. p[2] .. ',"' .. p[4] .. '","' .. e[1]
                              .. '",' .. p[3] .. ',' .. until_ .. ']'
        mine[e[1]] = nil
      else  -- an entry we did not just write: not a lease, drop it
        redis.call('XACK', KEYS[3], ARGV[1], e[1])
        redis.call('XDEL', KEYS[3], e[1])
      end
    end
    for _ in pairs(mine) do left = left + 1 end
    if left == 0 then break end
  end
end
out[4] = '[' .. table.concat(leased, ',') .. ']'
if limits[2] and #leased > 0 then
  if redis.call('INCRBY', KEYS[9], #leased) == #leased then
    redis.call('PEXPIRE', KEYS[9], tonumber(limits[3]))
  end
end
if redis.call('ZCARD', KEYS[1]) > 0 then
  out[1] = 0
else
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if #first > 0 then
    out[1] = math.max(0, tonumber(first[2]) - now)
  end
end
return out
