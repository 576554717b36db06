-- stream_forget: a job left PostgreSQL's pending set by an operator (deleted): drop its body
-- and its idx field, so a proposal still in ready or delayed is discarded when popped.
-- KEYS[1]  idx      HASH    job -> seq of its live entry
-- KEYS[2]  bodies   HASH    job -> encoded body
-- ARGV     job ids
-- returns  the number of idx fields removed
local n = 0
for _, job in ipairs(ARGV) do
  n = n + redis.call('HDEL', KEYS[1], job)
  redis.call('HDEL', KEYS[2], job)
end
return n
