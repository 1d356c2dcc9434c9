-- Enqueue one message as Dramatiq's dispatch script stores it, and wake the queue's consumers.
-- KEYS: 1 the queue (a list of redis message ids), 2 its messages hash, 3 its wake stream,
--       4 (a new email only) the delivery log's list of messages whose record is still to come.
-- ARGV: 1 redis message id, 2 the encoded message.
-- A consumer with nothing to do blocks in XREAD on the wake stream: the entry added here
-- ends that wait at once. One entry is all a consumer needs, so the stream keeps one.
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '1', '*', 'n', '1')
if KEYS[4] then
  redis.call('RPUSH', KEYS[4], ARGV[2])
end
