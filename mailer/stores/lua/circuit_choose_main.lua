-- Composed after now.lua and circuit_choose.lua. KEYS: state, probe lease.
-- ARGV: lease ms, lease token. Returns circuit_choose's answer.
return circuit_choose(KEYS[1], KEYS[2], ARGV[1], ARGV[2], now_ms())
