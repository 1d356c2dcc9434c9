-- One page of a delivery-log search, with the exact number of matches.
-- KEYS: 1 the log's index prefix, 2 the search's result key (kept `ttl` seconds).
-- ARGV: 1 the sorted sets to intersect, JSON (full keys; indexes scored by created_at),
--       2 an address prefix ('' for none), 3 since, 4 until (scores, '-inf'/'+inf'),
--       5 offset, 6 count, 7 ttl s, 8 '1' to build the result again even if it is kept,
--       9 '1' to walk the prefix's addresses instead (no other set), 10 a status or ''.
-- Returns {total, id, id, ...}, newest first (a walk: by address, newest first for each).
--
-- A walk answers an address prefix, with or without a status, without building anything:
-- the addresses under the prefix come in order from the lexicographic `addresses` set, the
-- total is the sum of each one's ZCOUNT (of its status twin, given a status), and the page
-- is read from the addresses it falls on: O(addresses matched), a microsecond or so each.
--
-- One set and no prefix: that set is the answer, read in O(log n + count). Otherwise the
-- answer is built once into KEYS[2]: the recipient indexes of every address under the
-- prefix (from the lexicographic `addresses` set) are merged, then intersected with the
-- other sets (Redis walks the smallest and looks the rest up), and the later pages of the
-- same search read what was built.
local prefix, result = KEYS[1], KEYS[2]
local sources = cjson.decode(ARGV[1])
local address_prefix = ARGV[2]
local key = sources[1]

-- Each chunk of addresses is merged into a part of its own, then the parts into one: every
-- entry is copied twice at most, where merging each chunk into a growing whole would copy
-- the whole again for every chunk.
local function union(into, keys)
  local args = {into, #keys}
  for _, key in ipairs(keys) do table.insert(args, key) end
  table.insert(args, 'AGGREGATE')
  table.insert(args, 'MAX')  -- every index is scored by created_at: MAX keeps it
  redis.call('ZUNIONSTORE', unpack(args))
end

local function merge_addresses(into)
  local low = '[' .. address_prefix
  local addresses = redis.call('ZRANGEBYLEX', prefix .. ':addresses', low, low .. '\255')
  local chunk, parts = 4000, {}  -- below Lua's limit on unpacked arguments
  for i = 1, #addresses, chunk do
    local keys = {}
    for j = i, math.min(i + chunk - 1, #addresses) do
      table.insert(keys, prefix .. ':to:' .. addresses[j])
    end
    local part = into .. ':' .. #parts
    union(part, keys)
    table.insert(parts, part)
  end
  redis.call('DEL', into)
  if #parts == 1 then
    if redis.call('EXISTS', parts[1]) == 1 then redis.call('RENAME', parts[1], into) end
  elseif #parts > 1 then
    union(into, parts)
    redis.call('DEL', unpack(parts))
  end
end

local function walk(status, low_score, high_score, offset, count)
  local low = '[' .. address_prefix
  local addresses = redis.call('ZRANGEBYLEX', prefix .. ':addresses', low, low .. '\255')
  local suffix = status ~= '' and (':status:' .. status) or ''
  local found, total, skip = {}, 0, offset
  for _, address in ipairs(addresses) do
    local index = prefix .. ':to:' .. address .. suffix
    local n = redis.call('ZCOUNT', index, low_score, high_score)
    total = total + n
    if n > 0 and #found < count then
      if skip >= n then
        skip = skip - n
      else
        local ids = redis.call('ZREVRANGEBYSCORE', index, high_score, low_score,
                               'LIMIT', skip, count - #found)
        skip = 0
        for _, id in ipairs(ids) do table.insert(found, id) end
      end
    end
  end
  table.insert(found, 1, total)
  return found
end

if ARGV[9] == '1' then
  return walk(ARGV[10], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]))
end

if address_prefix ~= '' or #sources > 1 then
  key = result
  if ARGV[8] == '1' or redis.call('EXISTS', result) == 0 then
    if address_prefix ~= '' then
      local merged = result .. ':addresses'
      merge_addresses(merged)
      table.insert(sources, merged)
    end
    redis.call('DEL', result)
    if #sources == 1 then
      if redis.call('EXISTS', sources[1]) == 1 then redis.call('RENAME', sources[1], result) end
    else
      local args = {result, #sources, unpack(sources)}
      table.insert(args, 'AGGREGATE')
      table.insert(args, 'MAX')  -- every index is scored by created_at: MAX keeps it
      redis.call('ZINTERSTORE', unpack(args))
      if address_prefix ~= '' then redis.call('DEL', sources[#sources]) end
    end
    redis.call('EXPIRE', result, tonumber(ARGV[7]))
  end
end

local total = redis.call('ZCOUNT', key, ARGV[3], ARGV[4])
local ids = redis.call('ZREVRANGEBYSCORE', key, ARGV[4], ARGV[3], 'LIMIT', ARGV[5], ARGV[6])
table.insert(ids, 1, total)
return ids
