-- settle: forget proposals once Postgres decided them (granted or stale).
-- KEYS[1]  stream   STREAM  group ARGV[1]
-- KEYS[2]  idx      HASH    job -> seq of its live entry
-- ARGV[1]  group, then repeated (entry_id, job, seq)
-- returns  the number of entries removed from the stream
-- XACK + XDEL keep the stream and the pending list empty once settled; the idx field goes
-- only if it still names this seq (a newer dispatch keeps its own).
local ids = {}
for i = 2, #ARGV, 3 do
  ids[#ids + 1] = ARGV[i]
  if redis.call('HGET', KEYS[2], ARGV[i + 1]) == ARGV[i + 2] then
    redis.call('HDEL', KEYS[2], ARGV[i + 1])
  end
end
if #ids == 0 then
  return 0
end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
