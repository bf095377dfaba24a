-- Give back everything a holder reserved.
-- KEYS: hold, expiry zset.
-- ARGV: holder, mode ('all' | 'expired'), now.
-- Returns {'released', {pid, available before, available after, ...}} | {'skipped', {}}
--
-- 'expired' releases only if the holder's expiry has passed: two sweepers, or
-- a sweeper racing a checkout, release a hold exactly once.

if ARGV[2] == 'expired' then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if not score or tonumber(score) > tonumber(ARGV[3]) then return {'skipped', {}} end
end
return {'released', release_all(KEYS[1], ARGV[1])}
