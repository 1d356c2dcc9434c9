-- The primary delivered: the circuit closes. KEYS: state, probe lease. No ARGV.
-- Returns 1 if this success closed an open circuit, else 0.
local state = redis.call('HMGET', KEYS[1], 'failures', 'open_until_ms')
if not state[1] and not state[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
if state[2] then return 1 end
return 0
