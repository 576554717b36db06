-- init: adopt the dataset token, or set ours when the dataset has none (new or emptied Redis);
-- the same for the dataset's lease mode, so replicas of the two modes never share a dataset.
-- KEYS[1]  token       STRING  id of this copy of the dataset
-- KEYS[2]  lease_mode  STRING  "grant" or "stream": how leases are made from this dataset
-- ARGV[1]  a fresh random token, used only when none is set
-- ARGV[2]  this replica's lease mode, set when the dataset has none (a new dataset, or one made
--          before lease modes were recorded: then by replicas configured as this one is)
-- returns  {the dataset token, the dataset lease mode}
local token = redis.call('GET', KEYS[1])
if not token then
  token = ARGV[1]
  redis.call('SET', KEYS[1], token)
end
local mode = redis.call('GET', KEYS[2])
if not mode then
  mode = ARGV[2]
  redis.call('SET', KEYS[2], mode)
end
return {token, mode}
