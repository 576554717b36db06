-- init: adopt the dataset token, or set ours when the dataset has none (new or emptied Redis).
-- KEYS[1]  token   STRING  id of this copy of the dataset
-- ARGV[1]  a fresh random token, used only when none is set
-- returns  the dataset token (string)
local token = redis.call('GET', KEYS[1])
if token then
  return token
end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
