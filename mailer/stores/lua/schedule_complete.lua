-- Remove each fired schedule entry, but only while it is the one that was fired.
--
-- Same message, same time: a key rescheduled since the claim (a new message, or the same one
-- at another time) stays. An entry's JSON begins with its identity, so a prefix comparison
-- stands in for decoding it. A whole batch goes in one call.
--
-- KEYS[1]  the entries hash (key -> entry JSON)
-- KEYS[2]  the due set
-- KEYS[3]  the set of keys in lexical order
-- ARGV     (key, identity) pairs, one per fired entry
-- Returns  how many entries were removed

local removed = 0
for i = 1, #ARGV, 2 do
    local key, identity = ARGV[i], ARGV[i + 1]
    local raw = redis.call('HGET', KEYS[1], key)
    if raw and string.sub(raw, 1, #identity) == identity then
        redis.call('HDEL', KEYS[1], key)
        redis.call('ZREM', KEYS[2], key)
        redis.call('ZREM', KEYS[3], key)
        removed = removed + 1
    end
end
return removed
