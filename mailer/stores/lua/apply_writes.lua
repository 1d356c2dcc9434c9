-- Run the write-only commands a batch gathered (mailer.stores.scripts.Writes), in order, as
-- one call instead of one pipeline entry each: counters, expiries, kept content.
-- KEYS: none; each command names its own keys, all of them on this one Redis.
-- ARGV: for each command, how many words it has, then the words (command name first).
-- Returns how many commands ran.
local i, ran = 1, 0
while i <= #ARGV do
  local words = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + words))
  i, ran = i + words + 1, ran + 1
end
return ran
