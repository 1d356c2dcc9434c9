-- Composed after now.lua and rate_acquire.lua.
-- KEYS: the lane's turns, then per bucket its slots and its pause.
-- ARGV: token, window ms, hold ms, '1' when queued, then each bucket's limit (0: none).
-- Returns rate_acquire's answer.
local buckets = {}
for i = 1, (#KEYS - 1) / 2 do
  table.insert(buckets, {KEYS[2 * i], KEYS[2 * i + 1], tonumber(ARGV[4 + i])})
end
return rate_acquire(now_ms(), buckets, KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
                    ARGV[4] == '1')
