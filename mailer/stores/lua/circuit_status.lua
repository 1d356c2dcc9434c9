-- Composed after now.lua. KEYS: state. No ARGV.
-- Returns {now ms, failures, open until ms, last error}.
local open_until_ms = tonumber(redis.call('HGET', KEYS[1], 'open_until_ms') or '0')
local failures = redis.call('HGET', KEYS[1], 'failures') or '0'
local last_error = redis.call('HGET', KEYS[1], 'last_error') or ''
return {string.format('%d', now_ms()), failures, string.format('%d', open_until_ms), last_error}
