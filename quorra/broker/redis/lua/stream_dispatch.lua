-- stream_dispatch: dispatch.lua for stream leases: the proposal plus the job body a lease needs.
-- KEYS[1]  ready    ZSET    score -priority, member "<run_at_us:017>:<job>:<seq>"
-- KEYS[2]  delayed  ZSET    score due ms, member "<ready member>:<priority>"
-- KEYS[3]  idx      HASH    job -> seq of its live entry (dedup, repair-sweep membership)
-- KEYS[4]  bodies   HASH    job -> encoded body (type, payload, attempts, ...), opaque here
-- ARGV[1]  wake channel, ARGV[2] queue name (published when anything was added)
-- ARGV[3..] repeated (job, seq, priority, due_ms, member, body)
-- returns  the number of entries added
-- At most once per (job, seq): an entry whose seq is not newer than idx's is skipped whole.
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local added = 0
for i = 3, #ARGV, 6 do
  local job, seq, prio, due, member = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local current = redis.call('HGET', KEYS[3], job)
  if not current or tonumber(current) < tonumber(seq) then
    redis.call('HSET', KEYS[3], job, seq)
    redis.call('HSET', KEYS[4], job, ARGV[i + 5])
    if tonumber(string.sub(member, 1, 17)) > now_us then
      redis.call('ZADD', KEYS[2], due, member .. ':' .. prio)
    else
      redis.call('ZADD', KEYS[1], -tonumber(prio), member)
    end
    added = added + 1
  end
end
if added > 0 then
  redis.call('PUBLISH', ARGV[1], ARGV[2])
end
return added
