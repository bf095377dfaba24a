-- Put back a hold that PostgreSQL knows of (an accepted order not yet
-- fulfilled) after its products' keys were lost and rebuilt: each line the
-- hold lacks is held again and counted in its product's reserved units,
-- whatever is available (the order was accepted when it was). Lines the hold
-- still has are left alone, so restoring twice changes nothing.
-- KEYS: hold, expiry zset, product keys...
-- ARGV: holder, expiry (epoch seconds), n, pids..., quantities...
-- Returns {pid, available before, available after, ...}

local expiry, n, changes = tonumber(ARGV[2]), tonumber(ARGV[3]), {}
for i = 1, n do
  local key, pid, qty = KEYS[2 + i], ARGV[3 + i], tonumber(ARGV[3 + n + i])
  if redis.call('EXISTS', key) == 1 and redis.call('HEXISTS', KEYS[1], pid) == 0 then
    local before = available(key)
    redis.call('HSET', KEYS[1], pid, qty)
    redis.call('HINCRBY', key, 'reserved', qty)
    table.insert(changes, pid); table.insert(changes, before); table.insert(changes, available(key))
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('ZADD', KEYS[2], 'NX', expiry, ARGV[1]) end
return changes
