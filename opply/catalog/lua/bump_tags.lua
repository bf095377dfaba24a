-- Throw away the cached lists of some tags: a new generation for each.
-- KEYS: catalog version key.
-- ARGV: seconds a tag lives after its last bump, then the tags.
-- Returns how many tags were bumped (0 when there is no version yet: then
-- nothing is cached).

local version = redis.call('GET', KEYS[1])
if not version then return 0 end
for i = 2, #ARGV do
  local key = TAG_KEY_PREFIX .. version .. ':' .. ARGV[i]
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[1])
end
return #ARGV - 1
