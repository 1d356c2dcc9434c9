-- Composed after set_status.lua. New records in `queued`, many in one call, each only where
-- no record exists yet: set_status with only_if 'unseen' for each (the producers' background
-- writer sends these in batches, so a batch costs one round trip).
-- KEYS: 1 the index prefix, then each record.
-- ARGV: 1 now, 2 retention, 3 JSON list with one [id, created_at, fields, extra index keys]
--       per record, in the order of KEYS.
local prefix, now, retention = KEYS[1], ARGV[1], ARGV[2]
for i, r in ipairs(cjson.decode(ARGV[3])) do
  set_status(KEYS[i + 1], prefix, r[1], 'queued', now, r[2], retention, r[3], r[4], '0',
             'unseen')
end
