-- Composed after now.lua. One transient failure of the primary.
-- KEYS: state, probe lease. ARGV: failures to open after, cool-down ms, error text.
-- Returns {event, consecutive failures}; event is one of counted, opened, reopened, ignored.
-- Failures while the circuit is open come from sends begun before it opened: ignored.
local now = now_ms()
local open_until_ms = tonumber(redis.call('HGET', KEYS[1], 'open_until_ms') or '0')
local reopen_at = string.format('%d', now + tonumber(ARGV[2]))
if open_until_ms > 0 then
  local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
  if now < open_until_ms then return {'ignored', failures} end
  redis.call('HSET', KEYS[1], 'open_until_ms', reopen_at, 'last_error', ARGV[3])
  redis.call('DEL', KEYS[2])
  return {'reopened', failures}
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('HSET', KEYS[1], 'last_error', ARGV[3])
if failures < tonumber(ARGV[1]) then return {'counted', failures} end
redis.call('HSET', KEYS[1], 'open_until_ms', reopen_at)
return {'opened', failures}
