-- Take a rate-limit slot in every bucket, or say how long to wait.
-- buckets: a list of {slots key, pause key, limit (0: none)}. A granted send holds a slot
-- scored now + hold while in flight; its release re-scores it to the moment the provider
-- answered, and a slot counts while its score is within the last window.
-- A refusal is promised a turn (unless `queued`: the caller already waited its turn), kept in
-- the lane's sorted set of turns until it passes: the departure of the next slot no pending
-- turn has claimed, so a line of refusals comes back as the slots free, neither all at once
-- nor later than they free. A slot in flight leaves a window after its answer, at the soonest
-- a window from now; turns beyond the slots known to leave are spread one slot spacing
-- (window / limit) after the last turn promised.
-- Returns {wait ms, index of the refusing bucket, 1 if it is paused by the provider}.

-- The turn of a bucket's next refusal, `pending` turns being promised already, the last at
-- `last` (0 if none).
local function rate_turn(slots, limit, counted, now, window, pending, last)
  local index = counted - limit + pending
  if index < counted then
    local slot = redis.call('ZRANGE', slots, index, index, 'WITHSCORES')
    local score = tonumber(slot[2])
    if score <= now then return score + window end -- answered: it leaves then
    if last == 0 then return now + window end
  end
  return math.max(last + window / limit, now + window)
end

local function rate_acquire(now, buckets, turns, token, window, hold, queued)
  local wait, culprit, paused, spacing, turn = 0, 0, 0, 0, 0
  local pending, last = 0, 0
  local limited = false  -- turns are promised only under a limit: none, no need to read them
  for _, bucket in ipairs(buckets) do limited = limited or bucket[3] > 0 end
  if limited and not queued then
    redis.call('ZREMRANGEBYSCORE', turns, '-inf', now)
    pending = redis.call('ZCARD', turns)
    local latest = redis.call('ZRANGE', turns, -1, -1, 'WITHSCORES')
    if latest[2] then last = tonumber(latest[2]) end
  end
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
        turn = math.max(turn, rate_turn(slots, limit, counted, now, window, pending, last))
      end
    end
  end
  if wait > 0 then
    if spacing > 0 and not queued then
      wait = math.max(wait, turn - now)
      redis.call('ZADD', turns, now + wait, token)
      redis.call('PEXPIRE', turns, math.ceil(wait + window))
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
