-- Which backend the failover circuit sends through now: 0 the primary, 1 the fallback, 2 the
-- primary as this caller's probe (the cool-down is over and nobody else probes).
local function circuit_choose(state, probe, lease_ms, token, now)
  local open_until_ms = tonumber(redis.call('HGET', state, 'open_until_ms') or '0')
  if open_until_ms == 0 then return 0 end
  if now < open_until_ms then return 1 end
  if redis.call('SET', probe, token, 'NX', 'PX', lease_ms) then return 2 end
  return 1
end
