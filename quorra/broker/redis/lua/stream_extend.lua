-- stream_extend: heartbeats. Push live leases' deadlines to now + ttl, fenced by lease id,
-- never past the job's deadline (leased_ms + the time limit its body ends with, if any).
-- KEYS[1]  stream   STREAM  group ARGV[1]
-- KEYS[2]  leases   HASH    job -> "lease|entry|deadline_ms|seq|leased_ms|worker"
-- KEYS[3]  bodies   HASH    job -> encoded body, ending ",<timeout ms>]" (0: no limit)
-- ARGV[1]  group, ARGV[2] consumer (the caller), ARGV[3] horizon ms,
-- ARGV[4..] repeated (job, lease id, ttl ms)
-- returns  one string per triple: the updated lease record, or "" (not live: nothing changed)
-- The entry's idle time is reset to horizon - (new deadline - now), so XAUTOCLAIM (min-idle =
-- horizon) finds it exactly at the new deadline.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local horizon = tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV, 3 do
  local job, want, ttl = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local rec = redis.call('HGET', KEYS[2], job)
  local ok = ''
  if rec then
    local lease, entry, deadline, seq, leased, worker =
      string.match(rec, '^([^|]*)|([^|]*)|(%d+)|(%d+)|(%d+)|(.*)$')
    if lease == want and tonumber(deadline) > now then
      local until_ = now + ttl
      local body = redis.call('HGET', KEYS[3], job)
      local limit = tonumber(body and string.match(body, ',(%d+)%]$') or '0')
      if limit > 0 and tonumber(leased) + limit < until_ then
        until_ = tonumber(leased) + limit
      end
      ok = table.concat({lease, entry, until_, seq, leased, worker}, '|')
      redis.call('HSET', KEYS[2], job, ok)
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, entry, 'IDLE', horizon - (until_ - now),
                 'JUSTID')
    end
  end
  out[#out + 1] = ok
end
return out
