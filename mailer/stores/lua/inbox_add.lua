-- Add one notification to a user's stream, atomically.
--
-- Trim the stream to ARGV[1] entries (dropping the trimmed ids from the unread set), append,
-- mark unread, refresh both keys' idle expiry. With a dedupe marker (KEYS[3]) already set,
-- add nothing and return the id it holds.
--
-- KEYS[1]  the user's stream
-- KEYS[2]  the user's unread set (id -> ms)
-- KEYS[3]  optional: the caller's dedupe marker
-- ARGV[1]  how many notifications a user keeps
-- ARGV[2]  the idle expiry of the stream and the unread set, in s
-- ARGV[3]  the dedupe marker's lifetime, in s
-- ARGV[4..] the notification's field, value pairs
-- Returns  the notification's id (the earlier one's, for a repeated dedupe key)

if KEYS[3] then
    local earlier = redis.call('GET', KEYS[3])
    if earlier then return earlier end
end
local cap = tonumber(ARGV[1])
local excess = redis.call('XLEN', KEYS[1]) - cap + 1
if excess > 0 then
    for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess)) do
        redis.call('ZREM', KEYS[2], entry[1])
    end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', cap, '*', unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], tonumber(string.match(id, '^%d+')), id)
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
if KEYS[3] then redis.call('SET', KEYS[3], id, 'EX', ARGV[3]) end
return id
