-- forget_consumers: delete consumers of dead servers once their pending lists are empty.
-- KEYS[1]  stream   STREAM  group ARGV[1]
-- ARGV[1]  group, ARGV[2] min idle ms, ARGV[3] the caller's consumer (always kept)
-- returns  the number of consumers deleted
-- Run after reclaim.lua: DELCONSUMER would drop pending entries, so only empty ones go. A live
-- server whose consumer was idle that long gets it back with its next XREADGROUP.
local res = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if type(res) ~= 'table' or res.err then
  return 0
end
local deleted = 0
for _, c in ipairs(res) do
  local f = {}
  for i = 1, #c, 2 do
    f[c[i]] = c[i + 1]
  end
  if f['name'] ~= ARGV[3] and tonumber(f['pending']) == 0
      and tonumber(f['idle']) >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    deleted = deleted + 1
  end
end
return deleted
