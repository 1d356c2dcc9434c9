-- Move a delivery-log record between status indexes and update it, atomically. The record
-- keeps its created_at (the index score). `only_if` says when to write: 'always', 'unseen'
-- (only a new record) or 'unless-live' (a new one, or one dead or failed). Returns the old
-- status, or false.
--
-- The type, domain and recipient indexes (`<prefix>:template:T`, `<prefix>:domain:D`,
-- `<prefix>:to:ADDRESS`) are facets: each has a twin per status (`...:status:S`) that the
-- record moves between, so a search by any of them and a status is one sorted set. A record
-- `sending` is in no twin (UNTWINNED): it stays there for the milliseconds of one send, so
-- moving it into a twin per facet and out again cost every send a third of its index
-- writes, and a search for it intersects the facet with `<prefix>:status:sending`, which holds
-- only the emails in flight (mailer.stores.delivery_search). The record remembers its facets
-- (field `facets`), as a write that only changes the status names no index. A recipient index
-- (`<prefix>:to:ADDRESS`) also enters ADDRESS in the lexicographic set `<prefix>:addresses`,
-- which answers address prefixes; `<prefix>:addresses:seen` scores it by when it was last
-- written, so addresses older than the retention leave both, up to 64 at each write that
-- trims.
--
-- Every index written gets the retention as its TTL, so one no longer written leaves with its
-- last record. Trimming an index to the retention is housekeeping, which searches do not
-- need (they read only the retention's span): a write trims the indexes it touches when its
-- message id ends in one of two of the sixteen hex digits (`trimming`), so a busy index is
-- trimmed every eight writes or so, at an eighth of the cost of trimming at each.
--
-- `now` and `retention` come as the caller sent them, strings: Lua does its arithmetic on
-- them all the same, and a Lua number handed to redis.call is formatted anew by every call.
local UNTWINNED = {sending = true}
local function trimming(id) return string.byte(id, -1) % 8 == 0 end  -- '0' and '8'

local function log_facets(record, prefix, indexes, status, old, id, known)
  local facets = known and cjson.decode(known) or {}
  local seen, before = {}, {}
  for _, facet in ipairs(facets) do seen[facet], before[facet] = true, true end
  local learnt = false
  for _, index in ipairs(indexes) do
    local kind = string.match(string.sub(index, #prefix + 2), '^(%a+):')
    if (kind == 'template' or kind == 'domain' or kind == 'to') and not seen[index] then
      table.insert(facets, index)
      seen[index], learnt = true, true
    end
  end
  local twins = {}
  for _, facet in ipairs(facets) do
    if old and old ~= status and not UNTWINNED[old] then
      redis.call('ZREM', facet .. ':status:' .. old, id)
    end
    if not UNTWINNED[status] then table.insert(twins, facet .. ':status:' .. status) end
  end
  return twins, before, learnt and cjson.encode(facets)
end

local function log_addresses(prefix, indexes, now, cutoff)
  local lex, seen = prefix .. ':addresses', prefix .. ':addresses:seen'
  local to = prefix .. ':to:'
  for _, index in ipairs(indexes) do
    if string.sub(index, 1, #to) == to then
      local address = string.sub(index, #to + 1)
      redis.call('ZADD', lex, '0', address)
      redis.call('ZADD', seen, now, address)
    end
  end
  if not cutoff then return end
  local old = redis.call('ZRANGEBYSCORE', seen, '-inf', cutoff, 'LIMIT', '0', '64')
  if #old > 0 then
    redis.call('ZREM', lex, unpack(old))
    redis.call('ZREM', seen, unpack(old))
  end
end

-- `fields`: a table of the record's fields to write; `named`: the index keys the caller names.
local function set_status(record, prefix, id, status, now, created_at, retention,
                          fields, named, throttled, only_if)
  local kept = redis.call('HMGET', record, 'created_at', 'status', 'facets')
  -- As written, never through a Lua number: the same score, and no formatting per index.
  local created = kept[1] or created_at
  local old = kept[2]
  local requeued = old == 'dead' or old == 'failed'
  if old and (only_if == 'unseen' or (only_if == 'unless-live' and not requeued)) then
    return old
  end
  -- A facet the record already has, and the index of every record, were written (with the
  -- address sets) by the write that first named them: a later write adds only the twins.
  local twins, before, facets = log_facets(record, prefix, named, status, old, id, kept[3])
  local indexes = {}
  for _, index in ipairs(named) do
    if not before[index] then table.insert(indexes, index) end
  end
  local cutoff = trimming(id) and string.format('%.6f', now - retention)
  if #indexes > 0 then log_addresses(prefix, indexes, now, cutoff) end
  for _, twin in ipairs(twins) do table.insert(indexes, twin) end
  if not old then table.insert(indexes, prefix .. ':all') end
  table.insert(indexes, prefix .. ':status:' .. status)
  if old and old ~= status then
    redis.call('ZREM', prefix .. ':status:' .. old, id)
  end
  for _, index in ipairs(indexes) do
    redis.call('ZADD', index, created, id)
    if cutoff then redis.call('ZREMRANGEBYSCORE', index, '-inf', cutoff) end
    redis.call('EXPIRE', index, retention)
  end
  local values = {'status', status, 'created_at', created, 'updated_at', now}
  if facets then
    table.insert(values, 'facets')
    table.insert(values, facets)
  end
  for name, value in pairs(fields) do
    table.insert(values, name)
    table.insert(values, value)
  end
  redis.call('HSET', record, unpack(values))
  if throttled == '1' then redis.call('HINCRBY', record, 'throttled', 1) end
  redis.call('EXPIRE', record, retention)
  return old
end
