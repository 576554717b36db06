-- stream_fence: which of these leases are live in Redis (ack, nack, release check here first).
-- KEYS[1]  leases   HASH    job -> "lease|entry|deadline_ms|seq|leased_ms|worker"
-- ARGV[1]  "job lease job lease ...": the pairs, space-separated (one argument, cheap to send)
-- returns  one string per pair: the lease record if that lease is the job's and unexpired,
--          else "" (absent, another lease, or past its deadline)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for job, want in string.gmatch(ARGV[1], '(%S+) (%S+)') do
  local rec = redis.call('HGET', KEYS[1], job)
  local ok = ''
  if rec then
    local lease, _, deadline = string.match(rec, '^([^|]*)|([^|]*)|(%d+)|')
    if lease == want and tonumber(deadline) > now then
      ok = rec
    end
  end
  out[#out + 1] = ok
end
return out
