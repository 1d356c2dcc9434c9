-- Composed after now.lua. Nobody sends through a bucket for a while; a pause only ever grows.
-- KEYS: the bucket's pause. ARGV: pause ms.
local until_ms = now_ms() + tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') < until_ms then
  redis.call('SET', KEYS[1], until_ms, 'PX', ARGV[1])
end
