-- After an order committed in PostgreSQL: apply the new on-hand values and
-- drop what the holder had reserved for those lines (it is now sold).
-- KEYS: hold, expiry zset, product keys...
-- ARGV: holder, n, pids..., quantities..., on_hands..., versions...
-- Returns {pid, available before, available after, ...}

local n, changes = tonumber(ARGV[2]), {}
for i = 1, n do
  local key, pid = KEYS[2 + i], ARGV[2 + i]
  local qty, on_hand, version = tonumber(ARGV[2 + n + i]), ARGV[2 + 2 * n + i], ARGV[2 + 3 * n + i]
  local existed = redis.call('EXISTS', key) == 1
  local before = existed and available(key) or nil
  local held = tonumber(redis.call('HGET', KEYS[1], pid) or '0')
  local released = math.min(qty, held)
  if existed and released > 0 then redis.call('HINCRBY', key, 'reserved', -released) end
  if held - released > 0 then redis.call('HSET', KEYS[1], pid, held - released) else redis.call('HDEL', KEYS[1], pid) end
  apply_on_hand(key, on_hand, version)
  table.insert(changes, pid); table.insert(changes, before or available(key)); table.insert(changes, available(key))
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', STARTED_KEY, ARGV[1])
end
return changes
