-- Redis's own clock in milliseconds: the one clock every host agrees on. Effects replication
-- first, so a script that reads TIME may write.
if redis.replicate_commands then redis.replicate_commands() end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
