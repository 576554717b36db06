-- next_wait: how long a lessee of this queue may sleep.
-- KEYS[1]  ready    ZSET    ready proposals
-- KEYS[2]  delayed  ZSET    score due ms
-- KEYS[3]  paused   STRING  set while the queue is paused
-- KEYS[4]  limits   HASH    c, r, p: the queue's limits (stream leases; absent: none)
-- KEYS[5]  rate     STRING  leases in the current rate window
-- KEYS[6]  leases   HASH    the queue's stream leases
-- returns  0 if a proposal is ready, ms until the next delayed job is due or a spent rate
--          window ends, or -1 (none, the queue is paused, or it runs its maximum at once: a
--          resume or a settle wakes lessees)
if redis.call('EXISTS', KEYS[3]) == 1 then
  return -1
end
local limits = redis.call('HMGET', KEYS[4], 'c', 'r')
if limits[1] and redis.call('HLEN', KEYS[6]) >= tonumber(limits[1]) then
  return -1
end
if limits[2] and tonumber(redis.call('GET', KEYS[5]) or '0') >= tonumber(limits[2]) then
  return math.max(1, redis.call('PTTL', KEYS[5]))
end
if redis.call('ZCARD', KEYS[1]) > 0 then
  return 0
end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #first == 0 then
  return -1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return math.max(0, tonumber(first[2]) - now)
