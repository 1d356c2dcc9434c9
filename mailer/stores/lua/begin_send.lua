-- Begin one send: the one round trip a worker makes for an email before it renders it.
-- Composed after now.lua, claim.lua, circuit_choose.lua, rate_acquire.lua and set_status.lua.
--
-- KEYS: 1 receipt, 2 claim, 3 suppression hash, 4 circuit state, 5 circuit probe,
--       6 log record, 7 log index prefix,
--       8 slots(all), 9 pause(all), 10 slots(primary), 11 pause(primary),
--       12 slots(fallback), 13 pause(fallback), 14 turns(primary), 15 turns(fallback),
--       16 the backend the message is kept to
-- ARGV: 1 claim token, 2 claim lease ms,
--       3 recipients to check as JSON {"to": [...], "other": [...]}, '' for none,
--       4 '1' when a fallback backend exists, 5 probe lease ms,
--       6 window ms, 7 hold ms, 8 '1' when the message already waited its turn,
--       9 limit(all), 10 limit(primary), 11 limit(fallback),
--       12 message id, 13 log time (epoch s), 14 created at (epoch s), 15 retention s,
--       16 log fields JSON, 17 log indexes JSON,
--       18 primary's name, 19 fallback's name, 20 how long a message stays kept to one (ms)
-- Returns, the claim held in every case but the first two:
--   {0, receipt fields}                 sent already: skip it
--   {1, ms}                             another worker holds the claim
--   {2, suppressed JSON}                every `to` recipient is suppressed
--   {3, backend, wait ms, bucket, paused, suppressed JSON}   the rate limit says wait
--   {4, backend, suppressed JSON}       go: slot held, logged `sending`
-- where backend is 0 the primary, 1 the fallback, 2 the primary as the circuit's probe.
local claimed = check_and_claim(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if claimed[1] == 0 then return {0, claimed[2]} end
if claimed[1] == 2 then return {1, claimed[2]} end

local suppressed = {}
local every_to = false
if ARGV[3] ~= '' then
  local recipients = cjson.decode(ARGV[3])
  local all = {}
  for _, address in ipairs(recipients['to']) do table.insert(all, address) end
  for _, address in ipairs(recipients['other']) do table.insert(all, address) end
  if #all > 0 then
    local found = redis.call('HMGET', KEYS[3], unpack(all))
    local to_left = #recipients['to']
    for i, entry in ipairs(found) do
      if entry then
        table.insert(suppressed, all[i])
        if i <= #recipients['to'] then to_left = to_left - 1 end
      end
    end
    every_to = to_left == 0
  end
end
local suppressed_json = cjson.encode(suppressed)
if every_to then return {2, suppressed_json} end

local now = now_ms()
local backend = 0
-- A message an earlier try may have handed to a backend goes through that one again, never
-- the other: "name" if a try's answer was lost, "name token" while a try is under way (if
-- that try is not this one, it died mid-way and may have sent it). Only this try's own mark
-- is lifted again when it fails before the handover.
local kept, kept_name = nil, nil
if ARGV[4] == '1' then
  local mark = redis.call('GET', KEYS[16])
  if mark then
    kept_name = string.match(mark, '^(%S+)')
    if kept_name == ARGV[18] then kept = 0 elseif kept_name == ARGV[19] then kept = 1 end
  end
  backend = kept or circuit_choose(KEYS[4], KEYS[5], ARGV[5], ARGV[1], now)
  local name = ARGV[18]
  if backend == 1 then name = ARGV[19] end
  if kept == nil then name = name .. ' ' .. ARGV[1] end
  redis.call('SET', KEYS[16], name, 'PX', ARGV[20])
end
local own = {KEYS[10], KEYS[11], tonumber(ARGV[10])}
local ticket = KEYS[14]
if backend == 1 then own, ticket = {KEYS[12], KEYS[13], tonumber(ARGV[11])}, KEYS[15] end
local buckets = {{KEYS[8], KEYS[9], tonumber(ARGV[9])}, own}
local decision = rate_acquire(now, buckets, ticket, ARGV[1], tonumber(ARGV[6]),
                              tonumber(ARGV[7]), ARGV[8] == '1')
if decision[1] > 0 then
  if backend == 2 then redis.call('DEL', KEYS[5]) end  -- the probe waits for the next sender
  return {3, backend, decision[1], decision[2], decision[3], suppressed_json}
end
set_status(KEYS[6], KEYS[7], ARGV[12], 'sending', ARGV[13], ARGV[14],
           ARGV[15], cjson.decode(ARGV[16]), cjson.decode(ARGV[17]), '0', 'always')
return {4, backend, suppressed_json}
