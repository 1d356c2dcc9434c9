-- Composed after claim.lua. KEYS: the receipt, the claim. ARGV: token, lease ms.
-- Returns {0, receipt fields}, {1, ''} or {2, ms}: see check_and_claim.
local verdict = check_and_claim(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if verdict[1] == 1 then return {1, ''} end
return verdict
