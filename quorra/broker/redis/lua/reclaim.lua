-- reclaim: put back proposals that a server read and never settled (it died or lost Postgres).
-- KEYS[1]  stream   STREAM  group ARGV[1]
-- KEYS[2]  ready    ZSET    score -priority, member "<run_at_us:017>:<job>:<seq>"
-- ARGV[1]  group, ARGV[2] consumer (the caller), ARGV[3] min idle ms, ARGV[4] cursor,
-- ARGV[5]  count
-- returns  {next_cursor, reclaimed}; next_cursor "0-0" when the pending list was walked
-- XAUTOCLAIM moves idle entries to the caller, which returns them to ready at once and
-- removes them. A proposal that was in fact granted fails its Postgres fence later.
local res = redis.pcall('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
                        'COUNT', ARGV[5])
if type(res) ~= 'table' or res.err then  -- no stream or no group: nothing to reclaim
  return {'0-0', 0}
end
local ids = {}
for _, e in ipairs(res[2]) do
  if type(e) == 'table' then
    ids[#ids + 1] = e[1]
    if type(e[2]) == 'table' then  -- Redis 6.2 replies nil fields for deleted entries
      redis.call('ZADD', KEYS[2], e[2][4], e[2][2])
    end
  end
end
if #ids > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
end
return {res[1], #ids}
