-- Dramatiq's ack, as its dispatch script does it, sent along with a send's outcome.
-- KEYS: 1 the worker's acks set for the queue, 2 the queue's messages hash.
-- ARGV: 1 redis message id. Returns 1.
-- The stored message goes only if it was still this worker's: a maintenance pass that handed
-- it to another worker meanwhile took it out of the acks set, and that copy keeps its body.
if redis.call('SREM', KEYS[1], ARGV[1]) > 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
