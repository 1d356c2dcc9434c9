-- Claim a dead letter for a requeue or a purge, if it is still dead and nobody holds it.
--
-- Two people (at the dashboard and the command line) must never both act on one letter.
--
-- KEYS[1]  the queue's dead-letter set (Dramatiq's <ns>:<queue>.XQ)
-- KEYS[2]  the claim
-- ARGV[1]  the letter's member (its redis_message_id)
-- ARGV[2]  the claim's lifetime, in ms
-- Returns  1 when claimed, 0 otherwise

if redis.call('zscore', KEYS[1], ARGV[1])
  and redis.call('set', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
