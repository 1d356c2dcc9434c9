-- Is the message sent already, and if not, may this worker send it?
-- {0, receipt fields} when a receipt exists; {1} when claimed now under `token`, or already
-- held under it (a copy put back after its claim's answer was lost); {2, ms} while another
-- worker holds the claim. A claim without a TTL, which only a bug could leave, is taken over
-- rather than waited on forever.
local function check_and_claim(receipt, claim, token, lease_ms)
  local sent = redis.call('HGETALL', receipt)
  if #sent > 0 then return {0, sent} end
  if redis.call('SET', claim, token, 'NX', 'PX', lease_ms) then return {1} end
  if redis.call('GET', claim) == token then
    redis.call('PEXPIRE', claim, lease_ms)
    return {1}
  end
  local left = redis.call('PTTL', claim)
  if left > 0 then return {2, left} end
  redis.call('SET', claim, token, 'PX', lease_ms)
  return {1}
end
