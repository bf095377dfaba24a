-- Store a page built on a miss (and its list's count, when that changed) and
-- read the page's live quantities, in one round trip.
-- KEYS: the page's key, its list's count key (opply.catalog.keys).
-- ARGV: the page (opply.catalog.cache.encode_page), seconds both live, the
--   count ('n:exact'; '' leaves the stored one as it is).
-- Returns {available, available, ...}: one value per product of the page, as
--   read_page.lua returns them.

redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
end
local out = {}
local n = 0
-- The page's first line is its product ids (opply.catalog.cache.encode_page).
local ids = string.sub(ARGV[1], 1, (string.find(ARGV[1], '\n', 1, true) or 1) - 1)
for pk in string.gmatch(ids, '%d+') do
  local v = redis.call('HMGET', PRODUCT_KEY_PREFIX .. pk .. PRODUCT_KEY_SUFFIX, 'on_hand', 'reserved')
  n = n + 1
  out[n] = v[1] and (tonumber(v[1]) - tonumber(v[2] or '0'))
end
return out
