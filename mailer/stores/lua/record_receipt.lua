-- Write a send's receipt and, given its claim's token, let the claim go.
-- KEYS: the receipt, the claim. ARGV: backend, provider id, sent at, ttl s, the claim's token
-- ('' keeps the claim).
redis.call('HSET', KEYS[1], 'backend', ARGV[1], 'provider_id', ARGV[2], 'sent_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[5] ~= '' and redis.call('GET', KEYS[2]) == ARGV[5] then redis.call('DEL', KEYS[2]) end
