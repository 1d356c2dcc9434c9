-- Composed after set_status.lua. Apply a batch of provider events (delivered, bounced, ...)
-- to the delivery log and the suppression list, each event once, all in one call.
-- KEYS: none of their own: every key is named from the prefixes in the config, as
-- set_status names its indexes. ARGV[1]: the config JSON (now, retention, the request's
-- mark, whether this call sets it (the request's last part) and its TTL, seen_prefix and
-- seen_ttl, record_prefix, index_prefix, provider_prefix, suppressed, metrics, hourly);
-- ARGV[2]: the events JSON, a list of {provider, event_id, status, at, message_id,
-- provider_id, recipients, suppress, detail}.
-- Returns {1, applied, duplicates, unmatched}, or {0, 0, 0, 0} when the request's mark is
-- already set: a replayed request, which changes nothing.
local config = cjson.decode(ARGV[1])
local events = cjson.decode(ARGV[2])
local now = tonumber(config.now)
local retention = tonumber(config.retention)
-- A later status never gives way to an earlier one arriving late: opened stays opened when
-- its delivered comes after it. Mailer's own statuses (sent, ...) rank below all of these.
local ranks = {deferred = 1, delivered = 2, opened = 3, clicked = 4,
               bounced = 5, rejected = 5, complained = 6}

if config.request ~= '' and redis.call('EXISTS', config.request) == 1 then
  return {0, 0, 0, 0}
end

local function record_of(event)
  local id = event.message_id
  if id == '' and event.provider_id ~= '' then
    id = redis.call('GET', config.provider_prefix .. event.provider .. ':' ..
                    event.provider_id) or ''
  end
  if id == '' then return nil end
  local record = config.record_prefix .. id
  if redis.call('EXISTS', record) == 0 then return nil end
  return id, record
end

local function apply(event, id, record)
  local old = redis.call('HGET', record, 'status')
  if (ranks[event.status] or 0) >= (ranks[old] or 0) then
    set_status(record, config.index_prefix, id, event.status, now, now, retention,
               {error = event.detail}, {}, '0', 'always')
  end
  local entry = {at = event.at, outcome = event.status, backend = event.provider}
  if event.provider_id ~= '' then entry.provider_id = event.provider_id end
  if event.detail ~= '' then entry.error = event.detail end
  redis.call('RPUSH', record .. ':attempts', cjson.encode(entry))
  redis.call('EXPIRE', record .. ':attempts', retention)
  local template = redis.call('HGET', record, 'template') or ''
  redis.call('HINCRBY', config.metrics, event.status .. '|' .. event.provider .. '|' .. template, 1)
  redis.call('HINCRBY', config.hourly, event.status .. '|' .. template, 1)
end

local applied, duplicates, unmatched = 0, 0, 0
for _, event in ipairs(events) do
  local seen = config.seen_prefix .. event.provider .. ':' .. event.event_id
  if not redis.call('SET', seen, '1', 'NX', 'EX', config.seen_ttl) then
    duplicates = duplicates + 1
  else
    if event.suppress ~= '' then
      local entry = cjson.encode({reason = event.suppress, at = now})
      for _, address in ipairs(event.recipients) do
        redis.call('HSET', config.suppressed, address, entry)
      end
    end
    local id, record = record_of(event)
    if id then
      apply(event, id, record)
      applied = applied + 1
    else
      unmatched = unmatched + 1
    end
  end
end
if applied > 0 then redis.call('EXPIRE', config.hourly, retention) end
if config.request ~= '' and config.mark then
  redis.call('SET', config.request, '1', 'EX', config.request_ttl)
end
return {1, applied, duplicates, unmatched}
