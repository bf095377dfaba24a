-- Change a holder's reservation per product.
-- KEYS: hold, expiry zset, product keys...
-- ARGV: holder, now, ttl, max lifetime (0: none), max units per product (0: none),
--       max lines per hold (0: none), mode ('delta' | 'set'), n, pids..., values...
-- Returns {'ok', changes, expired} | {'missing', pids, expired}
--       | {'short', {pid, available, ...}, expired} | {'invalid', pid, held, expired}
--       | {'cap_units', pid, cap, held, expired} | {'cap_lines', cap, expired}
--   changes / expired: {pid, available before, available after, ...}
--
-- By a delta or to a target quantity ('set', computed here so that
-- concurrent changes cannot race): increases reserve (all or nothing),
-- decreases release. An expired holder is released first, so it starts again
-- from nothing. Only a change of some quantity renews the expiry (setting
-- what is already held does not), and never past the hold's maximum lifetime.

local holder, now, ttl, max_life = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local max_units, max_lines, mode, n = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
local score = redis.call('ZSCORE', KEYS[2], holder)
local expired = {}
if score and tonumber(score) <= now then expired = release_all(KEYS[1], holder) end

local missing = {}
for i = 1, n do
  if redis.call('EXISTS', KEYS[2 + i]) == 0 then table.insert(missing, ARGV[8 + i]) end
end
if #missing > 0 then return {'missing', missing, expired} end

local short, held, deltas, lines = {}, {}, {}, redis.call('HLEN', KEYS[1])
for i = 1, n do
  local pid, delta = ARGV[8 + i], tonumber(ARGV[8 + n + i])
  local current = tonumber(redis.call('HGET', KEYS[1], pid) or '0')
  if mode == 'set' then delta = delta - current end
  held[i], deltas[i] = current, delta
  if current + delta < 0 then return {'invalid', pid, current, expired} end
  if delta > 0 and max_units > 0 and current + delta > max_units then
    return {'cap_units', pid, max_units, current, expired}
  end
  if current == 0 and delta > 0 then lines = lines + 1 end
  if current > 0 and current + delta == 0 then lines = lines - 1 end
  local avail = available(KEYS[2 + i])
  if delta > avail then table.insert(short, pid); table.insert(short, math.max(avail, 0)) end
end
if max_lines > 0 and lines > max_lines and lines > redis.call('HLEN', KEYS[1]) then
  return {'cap_lines', max_lines, expired}
end
if #short > 0 then return {'short', short, expired} end

local changes, changed = {}, false
for i = 1, n do
  local pid, delta = ARGV[8 + i], deltas[i]
  if delta ~= 0 then changed = true end
  local before = available(KEYS[2 + i])
  redis.call('HINCRBY', KEYS[2 + i], 'reserved', delta)
  if held[i] + delta == 0 then redis.call('HDEL', KEYS[1], pid) else redis.call('HSET', KEYS[1], pid, held[i] + delta) end
  table.insert(changes, pid); table.insert(changes, before); table.insert(changes, available(KEYS[2 + i]))
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], holder)
  redis.call('ZREM', STARTED_KEY, holder)
elseif changed then
  redis.call('ZADD', KEYS[2], renewed_expiry(holder, now, ttl, max_life), holder)
end
return {'ok', changes, expired}
