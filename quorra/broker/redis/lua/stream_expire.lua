-- stream_expire: take back expired leases with XAUTOCLAIM (min-idle = the horizon, which every
-- entry reaches exactly at its deadline; see stream_lease.lua).
-- KEYS[1]  stream   STREAM  group ARGV[1]
-- KEYS[2]  leases   HASH    job -> "lease|entry|deadline_ms|seq|leased_ms|worker"
-- ARGV[1]  group, ARGV[2] consumer (the caller), ARGV[3] horizon ms, ARGV[4] cursor,
-- ARGV[5]  count
-- returns  {next_cursor, job, lease, entry, seq, leased_ms, worker, deadline_ms, ...}: expired
--          leases (deadline_ms tells a lease cut at the job's deadline: timed out), to
--          be settled as failed attempts in PostgreSQL and then forgotten (stream_done.lua)
-- An expired entry stays claimable (idle = horizon) until stream_done.lua removes it, so a
-- reclaimer that dies before PostgreSQL committed leaves it to the next one. A lease found
-- still live (its deadline moved) gets its idle time back; an entry whose lease is gone or was
-- replaced is an orphan and is deleted.
local res = redis.pcall('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
                        'COUNT', ARGV[5])
if type(res) ~= 'table' or res.err then  -- no stream or no group: nothing to take back
  return {'0-0'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local horizon = tonumber(ARGV[3])
local out = {res[1]}
local orphans = {}
for _, e in ipairs(res[2]) do
  if type(e) == 'table' then
    local f = {}
    if type(e[2]) == 'table' then
      for i = 1, #e[2], 2 do
        f[e[2][i]] = e[2][i + 1]
      end
    end
    local rec = f['j'] and redis.call('HGET', KEYS[2], f['j'])
    local lease, entry, deadline, seq, leased, worker
    if rec then
      lease, entry, deadline, seq, leased, worker =
        string.match(rec, '^([^|]*)|([^|]*)|(%d+)|(%d+)|(%d+)|(.*)$')
    end
    if lease and lease == f['l'] and entry == e[1] then
      local left = tonumber(deadline) - now
      local idle = horizon
      if left > 0 then
        idle = horizon - left
      end
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, e[1], 'IDLE', idle, 'JUSTID')
      if left <= 0 then
        for _, v in ipairs({f['j'], lease, e[1], seq, leased, worker, deadline}) do
          out[#out + 1] = v
        end
      end
    else
      orphans[#orphans + 1] = e[1]
    end
  end
end
if #orphans > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(orphans))
  redis.call('XDEL', KEYS[1], unpack(orphans))
end
return out
