-- One cached product page and its live quantities, in one round trip; on a
-- miss, the count of its list instead (every page of a list shares one).
-- KEYS: catalog version key.
-- ARGV: page digest, the page's cache tag ('' for none), the list's count digest.
-- Returns {version or false, generation, page or false, count or false, available, available, ...}
--   (the tag's generation, '0' when never bumped; the count ('n:exact') only
--   when the page is missing; one value per product of the page (its 'pks'):
--   on_hand - reserved from its availability key; a missing key reads as
--   false and the caller rebuilds it)

local version = redis.call('GET', KEYS[1])
if not version then return {false, '0', false, false} end
local generation = '0'
if ARGV[2] ~= '' then
  generation = redis.call('GET', TAG_KEY_PREFIX .. version .. ':' .. ARGV[2]) or '0'
end
local page = redis.call('GET', PAGE_KEY_PREFIX .. version .. ':' .. generation .. ':' .. ARGV[1])
if not page then
  return {version, generation, false, redis.call('GET', COUNT_KEY_PREFIX .. version .. ':' .. generation .. ':' .. ARGV[3])}
end
local out = {version, generation, page, false}
local n = 4
-- The page's first line is its product ids (opply.catalog.cache.encode_page).
local ids = string.sub(page, 1, (string.find(page, '\n', 1, true) or 1) - 1)
for pk in string.gmatch(ids, '%d+') do
  local v = redis.call('HMGET', PRODUCT_KEY_PREFIX .. pk .. PRODUCT_KEY_SUFFIX, 'on_hand', 'reserved')
  n = n + 1
  out[n] = v[1] and (tonumber(v[1]) - tonumber(v[2] or '0'))
end
return out
