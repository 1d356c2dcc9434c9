-- Move a delivery-log record between status indexes and update it, atomically. The record
-- keeps its created_at (the index score); indexes older than the retention are trimmed as
-- they are touched. `only_if` says when to write: 'always', 'unseen' (only a new record) or
-- 'unless-live' (a new one, or one dead or failed). Returns the old status, or false.
local function set_status(record, prefix, id, status, now, created_at, retention,
                          fields_json, indexes_json, throttled, only_if)
  local created = tonumber(redis.call('HGET', record, 'created_at') or created_at)
  local old = redis.call('HGET', record, 'status')
  local requeued = old == 'dead' or old == 'failed'
  if old and (only_if == 'unseen' or (only_if == 'unless-live' and not requeued)) then
    return old
  end
  local indexes = cjson.decode(indexes_json)
  table.insert(indexes, prefix .. ':all')
  table.insert(indexes, prefix .. ':status:' .. status)
  if old and old ~= status then
    redis.call('ZREM', prefix .. ':status:' .. old, id)
  end
  for _, index in ipairs(indexes) do
    redis.call('ZADD', index, created, id)
    redis.call('ZREMRANGEBYSCORE', index, '-inf', now - retention)
    redis.call('EXPIRE', index, retention)
  end
  redis.call('HSET', record, 'status', status, 'created_at', created, 'updated_at', now)
  for name, value in pairs(cjson.decode(fields_json)) do
    redis.call('HSET', record, name, value)
  end
  if throttled == '1' then redis.call('HINCRBY', record, 'throttled', 1) end
  redis.call('EXPIRE', record, retention)
  return old
end
