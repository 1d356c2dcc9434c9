-- Take a rate-limit slot in every bucket, or say how long to wait.
-- buckets: a list of {slots key, pause key, limit (0: none)}. A granted send holds a slot
-- scored now + hold while in flight; its release re-scores it to the moment the provider
-- answered, and a slot counts while its score is within the last window.
-- A refusal takes a ticket (unless `queued`: the caller already waited its turn), so that
-- successive refusals come back one slot spacing apart instead of all at once.
-- Returns {wait ms, index of the refusing bucket, 1 if it is paused by the provider}.
local function rate_acquire(now, buckets, ticket, token, window, hold, queued)
  local wait, culprit, paused, spacing = 0, 0, 0, 0
  for i, bucket in ipairs(buckets) do
    local slots, limit = bucket[1], bucket[3]
    local pause = tonumber(redis.call('GET', bucket[2]) or '0')
    if pause - now > wait then wait, culprit, paused = pause - now, i, 1 end
    if limit > 0 then
      spacing = math.max(spacing, window / limit)
      redis.call('ZREMRANGEBYSCORE', slots, '-inf', now - window)
      local counted = redis.call('ZCARD', slots)
      if counted >= limit then
        local leaving = redis.call('ZRANGE', slots, counted - limit, counted - limit, 'WITHSCORES')
        -- A slot still in flight leaves a window after its answer: at the soonest, from now.
        local left = math.min(tonumber(leaving[2]), now) + window - now
        if left > wait then wait, culprit, paused = left, i, 0 end
      end
    end
  end
  if wait > 0 then
    if spacing > 0 and not queued then
      wait = math.max(wait, tonumber(redis.call('GET', ticket) or '0') - now)
      local next_slot = now + wait + spacing
      redis.call('SET', ticket, tostring(next_slot), 'PX', math.ceil(wait + spacing + window))
    end
    return {math.ceil(wait), culprit, paused}
  end
  for _, bucket in ipairs(buckets) do
    if bucket[3] > 0 then
      redis.call('ZADD', bucket[1], now + hold, token)
      redis.call('PEXPIRE', bucket[1], window + hold)
    end
  end
  return {0, 0, 0}
end
