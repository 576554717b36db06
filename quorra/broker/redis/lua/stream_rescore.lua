-- stream_rescore: priority inheritance with stream leases. A proposal whose job a dependent
-- raised gets its new priority in place, keeping its seq (a stream lease not yet recorded in
-- PostgreSQL is fenced by that seq, so a new one would void it), and its new body.
-- KEYS[1]  ready    ZSET    score -priority, member "<run_at_us:017>:<job>:<seq>"
-- KEYS[2]  delayed  ZSET    score due ms, member "<ready member>:<priority>"
-- KEYS[3]  idx      HASH    job -> seq of its live entry
-- KEYS[4]  bodies   HASH    job -> encoded body
-- ARGV     job, seq, old priority, new priority, member, body
-- returns  1 if the proposal moved, 0 if Redis holds no proposal of that seq (already leased,
--          superseded, or not yet proposed: its proposal will carry the new priority)
local job, seq, old, new, member, body = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('HGET', KEYS[3], job) ~= seq then
  return 0
end
local moved = 0
if redis.call('ZSCORE', KEYS[1], member) then
  redis.call('ZADD', KEYS[1], -tonumber(new), member)
  moved = 1
else
  local due = redis.call('ZSCORE', KEYS[2], member .. ':' .. old)
  if due then
    redis.call('ZREM', KEYS[2], member .. ':' .. old)
    redis.call('ZADD', KEYS[2], due, member .. ':' .. new)
    moved = 1
  end
end
if redis.call('HEXISTS', KEYS[4], job) == 1 then
  redis.call('HSET', KEYS[4], job, body)
end
return moved
