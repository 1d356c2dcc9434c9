-- Lease the schedule entries that are due by Redis's own clock, oldest first.
--
-- Redis's clock, so every scheduler agrees on "now" whatever its host's clock says. Each
-- entry claimed is leased: its score moves to the lease's end, so a concurrent claimer skips
-- it, and it comes due again should this claimer die before completing it. A key whose entry
-- is gone is dropped from the due set.
--
-- KEYS[1]  the due set (key -> when next due, ms)
-- KEYS[2]  the entries hash (key -> entry JSON)
-- ARGV[1]  how many entries to claim at most
-- ARGV[2]  the lease, in ms
-- Returns  a flat list: key, entry, key, entry, ...

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
local lease_until_ms = now_ms + tonumber(ARGV[2])
local claimed = {}
for _, key in ipairs(keys) do
    local entry = redis.call('HGET', KEYS[2], key)
    if entry then
        redis.call('ZADD', KEYS[1], lease_until_ms, key)
        claimed[#claimed + 1] = key
        claimed[#claimed + 1] = entry
    else
        redis.call('ZREM', KEYS[1], key)
    end
end
return claimed
