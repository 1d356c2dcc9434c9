-- Composed after now.lua. The send answered: its slots count from now until a window later.
-- KEYS: the slots of each limited bucket. ARGV: token.
local now = now_ms()
for i = 1, #KEYS do redis.call('ZADD', KEYS[i], 'XX', now, ARGV[1]) end
