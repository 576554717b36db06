-- lease: promote due delayed jobs, then hand this server the best `want` ready proposals.
-- KEYS[1]  ready    ZSET    score -priority, member "<run_at_us:017>:<job>:<seq>"
-- KEYS[2]  delayed  ZSET    score due ms, member "<ready member>:<priority>"
-- KEYS[3]  stream   STREAM  group ARGV[1]; entries {m = member, p = score}
-- KEYS[4]  paused   STRING  set while the queue is paused: nothing is handed out
-- ARGV[1]  group, ARGV[2] consumer (one per server process), ARGV[3] want,
-- ARGV[4]  how many due delayed jobs to promote at most
-- returns  {wait_ms, entry_id, job, seq, entry_id, job, seq, ...}
--          wait_ms: 0 if more are ready, ms until the next delayed job is due, or -1
--          (-1 too while the queue is paused: a resume publishes a wake-up)
-- Strict priority: ZPOPMIN takes the lowest score (= highest priority), ties by member
-- (run_at, then job id). Popped entries go through the stream so that each sits in this
-- consumer's pending list until settle.lua; a dead server's entries are reclaimed (reclaim.lua).
if redis.call('EXISTS', KEYS[4]) == 1 then
  return {-1}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
for _, m in ipairs(due) do
  local member, prio = string.match(m, '^(.*):(-?%d+)$')
  redis.call('ZADD', KEYS[1], -tonumber(prio), member)
  redis.call('ZREM', KEYS[2], m)
end
local out = {-1}
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[3]))
if #popped > 0 then
  if redis.call('EXISTS', KEYS[3]) == 0 then
    redis.call('XGROUP', 'CREATE', KEYS[3], ARGV[1], '0', 'MKSTREAM')
  end
  for i = 1, #popped, 2 do
    redis.call('XADD', KEYS[3], '*', 'm', popped[i], 'p', popped[i + 1])
  end
  local read = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', #popped,
                           'STREAMS', KEYS[3], '>')
  if type(read) == 'table' and read.err then  -- the stream lost its group: recreate it
    redis.pcall('XGROUP', 'CREATE', KEYS[3], ARGV[1], '0')
    read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', #popped,
                      'STREAMS', KEYS[3], '>')
  end
  if read and read[1] then
    local entries = read[1][2]
    if type(read[1]) ~= 'table' then  -- an in-process fake replies {key, entries} unnested
      entries = read[2]
    end
    for _, e in ipairs(entries) do
      local job, seq = string.match(e[2][2], '^[^:]*:([^:]*):(%d+)$')
      if job then
        out[#out + 1] = e[1]
        out[#out + 1] = job
        out[#out + 1] = seq
      else  -- not a member we wrote: drop it rather than misalign the reply
        redis.call('XACK', KEYS[3], ARGV[1], e[1])
        redis.call('XDEL', KEYS[3], e[1])
      end
    end
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
