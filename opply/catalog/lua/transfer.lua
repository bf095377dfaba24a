-- Move a live (unexpired, non-empty) hold to another holder.
-- KEYS: from-hold, expiry zset, to-hold.
-- ARGV: from, to, now, ttl, max lifetime (0: none).
-- Returns {'ok', {pid, units, ...}} | {'expired', {pid, available before, available after, ...}} | {'empty'}
--
-- Checkout claims a cart for the order being placed, so the sweeper can no
-- longer release it and the customer can no longer change it. The hold keeps
-- when it began (the earlier start if the target already held something), so
-- moving it to an order and back to the cart never restarts its maximum
-- lifetime. An expired source is released instead.

local now, ttl, max_life = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if score and tonumber(score) <= now then return {'expired', release_all(KEYS[1], ARGV[1])} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'empty'} end
local lines = redis.call('HGETALL', KEYS[1])
for i = 1, #lines, 2 do redis.call('HINCRBY', KEYS[3], lines[i], lines[i + 1]) end
local source_started = redis.call('ZSCORE', STARTED_KEY, ARGV[1])
local target_started = redis.call('ZSCORE', STARTED_KEY, ARGV[2])
if source_started and (not target_started or tonumber(source_started) < tonumber(target_started)) then
  redis.call('ZADD', STARTED_KEY, source_started, ARGV[2])
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', STARTED_KEY, ARGV[1])
redis.call('ZADD', KEYS[2], renewed_expiry(ARGV[2], now, ttl, max_life), ARGV[2])
return {'ok', lines}
