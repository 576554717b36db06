-- next_wait: how long a lessee of this queue may sleep.
-- KEYS[1]  ready    ZSET    ready proposals
-- KEYS[2]  delayed  ZSET    score due ms
-- KEYS[3]  paused   STRING  set while the queue is paused
-- returns  0 if a proposal is ready, ms until the next delayed job is due, or -1 (none, or
--          the queue is paused: a resume publishes a wake-up)
if redis.call('EXISTS', KEYS[3]) == 1 then
  return -1
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
