-- stream_done: forget leases once PostgreSQL decided them (settled, expired or refused).
-- KEYS[1]  stream   STREAM  group ARGV[1]
-- KEYS[2]  leases   HASH    job -> "lease|entry|deadline_ms|seq|leased_ms|worker"
-- KEYS[3]  idx      HASH    job -> seq of its live entry
-- KEYS[4]  bodies   HASH    job -> encoded body
-- KEYS[5]  limits   HASH    the queue's limits: when set, a freed lease wakes its lessees
-- ARGV[1]  group, ARGV[2] "job lease entry seq job lease entry seq ...", space-separated;
--          entry "-" when Redis's entry is not known; ARGV[3] wake channel, ARGV[4] queue
-- returns  the number of stream entries deleted
-- XACK + XDEL the entry; the lease goes only if it is still this one, idx and body only if idx
-- still names this seq (a newer dispatch of the job keeps its own).
local ids = {}
local freed = 0
for job, lease, entry, seq in string.gmatch(ARGV[2], '(%S+) (%S+) (%S+) (%S+)') do
  if entry ~= '-' then
    ids[#ids + 1] = entry
  end
  local rec = redis.call('HGET', KEYS[2], job)
  if rec and string.sub(rec, 1, #lease + 1) == lease .. '|' then
    freed = freed + redis.call('HDEL', KEYS[2], job)
  end
  if redis.call('HGET', KEYS[3], job) == seq then
    redis.call('HDEL', KEYS[3], job)
    redis.call('HDEL', KEYS[4], job)
  end
end
if freed > 0 and redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
if #ids == 0 then
  return 0
end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
