-- New records in `queued`, many in one call, each only where no record exists yet: what
-- set_status does with only_if 'unseen' for a new record, with each index trimmed once per
-- call instead of once per record (the producers' background writer sends these in batches).
-- KEYS: 1 the index prefix, then each record.
-- ARGV: 1 now, 2 retention, 3 JSON list with one [id, created_at, fields, extra index keys]
--       per record, in the order of KEYS.
local prefix, now, retention = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local touched = {}
for i, r in ipairs(cjson.decode(ARGV[3])) do
  local record, id, created = KEYS[i + 1], r[1], r[2]
  if redis.call('HEXISTS', record, 'status') == 0 then
    local indexes = r[4]
    table.insert(indexes, prefix .. ':all')
    table.insert(indexes, prefix .. ':status:queued')
    for _, index in ipairs(indexes) do
      redis.call('ZADD', index, created, id)
      touched[index] = true
    end
    local hash = {'status', 'queued', 'created_at', created, 'updated_at', now}
    for name, value in pairs(r[3]) do
      table.insert(hash, name)
      table.insert(hash, value)
    end
    redis.call('HSET', record, unpack(hash))
    redis.call('EXPIRE', record, retention)
  end
end
for index in pairs(touched) do
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now - retention)
  redis.call('EXPIRE', index, retention)
end
