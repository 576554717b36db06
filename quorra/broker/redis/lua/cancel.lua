-- cancel: drop jobs PostgreSQL has just cancelled (it committed first) from a queue's index.
-- KEYS[1]  ready    ZSET    score -priority, member "<run_at_us:017>:<job>:<seq>"
-- KEYS[2]  delayed  ZSET    score due ms, member "<ready member>:<priority>"
-- KEYS[3]  idx      HASH    job -> seq of its live entry
-- KEYS[4]  bodies   HASH    job -> encoded body (stream leases only)
-- KEYS[5]  leases   HASH    job -> "lease|entry|deadline_ms|seq|leased_ms|worker" (stream leases)
-- KEYS[6]  stream   STREAM  group ARGV[1]
-- ARGV[1]  group, then repeated (job, member, priority): member as the proposal was made from
--          the job's row before the cancel
-- returns  {job, lease record, ...} for every job Redis held a lease of (stream leases): that
--          lease is void too, and its holder must be told
-- The proposal goes from ready and delayed, the idx field and body with it (so a copy of the
-- proposal still anywhere is dropped when popped: stream_lease.lua needs both), and a stream
-- lease is forgotten with its entry (XACK + XDEL), so XAUTOCLAIM never expires it.
local out = {}
for i = 2, #ARGV, 3 do
  local job, member, prio = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member .. ':' .. prio)
  redis.call('HDEL', KEYS[3], job)
  redis.call('HDEL', KEYS[4], job)
  local rec = redis.call('HGET', KEYS[5], job)
  if rec then
    local entry = string.match(rec, '^[^|]*|([^|]*)|')
    if entry and entry ~= '' and redis.call('EXISTS', KEYS[6]) == 1 then
      redis.call('XACK', KEYS[6], ARGV[1], entry)
      redis.call('XDEL', KEYS[6], entry)
    end
    redis.call('HDEL', KEYS[5], job)
    out[#out + 1] = job
    out[#out + 1] = rec
  end
end
return out
