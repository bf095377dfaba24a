-- Rebuild missing product keys and apply newer on-hand values (restock,
-- count, cancellation, reconciliation, a key lost with a Redis restart).
-- KEYS: product keys...
-- ARGV: n, pids..., on_hands..., versions...
-- Returns {pid, available before, available after, ...}

local n, changes = tonumber(ARGV[1]), {}
for i = 1, n do
  local key = KEYS[i]
  local before = redis.call('EXISTS', key) == 1 and available(key) or nil
  apply_on_hand(key, ARGV[1 + n + i], ARGV[1 + 2 * n + i])
  table.insert(changes, ARGV[1 + i]); table.insert(changes, before or available(key)); table.insert(changes, available(key))
end
return changes
