-- Composed after set_status.lua. KEYS: the record, the index prefix.
-- ARGV: id, status, now, created_at, retention, fields JSON, extra index keys JSON,
-- '1' to count a throttle, and when to write (see set_status). Returns the old status.
return set_status(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
                  ARGV[5], cjson.decode(ARGV[6]), cjson.decode(ARGV[7]), ARGV[8], ARGV[9])
