-- Helpers of the availability store's scripts, prepended to each of them
-- (after the key-name constants of opply/catalog/keys.py). Product keys are
-- derived from ids here only where a script cannot know its products in
-- advance (releasing a whole hold); see opply/catalog/inventory.py on
-- cluster mode.

local function pkey(pid) return PRODUCT_KEY_PREFIX .. pid .. PRODUCT_KEY_SUFFIX end

-- The expiry of a hold renewed now: ttl from now, but never past the end of
-- its maximum lifetime (0: none) counted from when the hold began.
local function renewed_expiry(holder, now, ttl, max_life)
  local started = redis.call('ZSCORE', STARTED_KEY, holder)
  if not started then
    started = now
    redis.call('ZADD', STARTED_KEY, now, holder)
  end
  local expiry = now + ttl
  if max_life > 0 then expiry = math.min(expiry, tonumber(started) + max_life) end
  return expiry
end

local function available(key)
  local v = redis.call('HMGET', key, 'on_hand', 'reserved')
  return tonumber(v[1] or '0') - tonumber(v[2] or '0')
end

-- Give back everything a holder reserved. Returns {pid, before, after, ...}.
-- KEYS[2] is the expiry sorted set in every script that calls it.
local function release_all(hkey, holder)
  local out = {}
  local fields = redis.call('HGETALL', hkey)
  for i = 1, #fields, 2 do
    local key = pkey(fields[i])
    if redis.call('EXISTS', key) == 1 then
      local before = available(key)
      redis.call('HINCRBY', key, 'reserved', -tonumber(fields[i + 1]))
      table.insert(out, fields[i]); table.insert(out, before); table.insert(out, available(key))
    end
  end
  redis.call('DEL', hkey)
  redis.call('ZREM', KEYS[2], holder)
  redis.call('ZREM', STARTED_KEY, holder)
  return out
end

-- Apply a committed on-hand value if it is newer than the one held.
local function apply_on_hand(key, on_hand, version)
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'on_hand', on_hand, 'version', version, 'reserved', 0)
  elseif tonumber(redis.call('HGET', key, 'version')) < tonumber(version) then
    redis.call('HSET', key, 'on_hand', on_hand, 'version', version)
  end
end
