-- Delete a key only while it holds the value we set, never one somebody else set since.
-- KEYS: the key. ARGV: the value. Returns how many keys it deleted.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
