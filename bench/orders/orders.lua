-- wrk script of the orders benchmark: every request places an order.
--
--   wrk ... -s bench/orders/orders.lua http://127.0.0.1:PORT/api/orders/orders/ \
--       -- TOKENS_FILE PRODUCTS_FILE KEY_PREFIX
--
-- Each request is POST /api/orders/orders/ with one line (1 unit of a product
-- picked at random from PRODUCTS_FILE: one line for the hot scenario, 1,000
-- for the spread one), a bearer token taken round-robin from TOKENS_FILE (64
-- distinct customers) and a unique Idempotency-Key, as the mobile app sends.
-- KEY_PREFIX is unique per wrk run: idempotency records live 24 hours per
-- customer, so a key reused from an earlier run would be replayed (no new
-- order) or refused.
--
-- The counting and the WRK_RESULT line come from bench/common/wrk_report.lua
-- (path in WRK_REPORT_LUA, else relative to the working directory). On top of
-- it this script prints a second line
--
--   WRK_SENT {"sent":..., "unanswered":...}
--
-- because wrk stops at the deadline with up to one request per connection in
-- flight: the server still completes those (the order is committed), but wrk
-- never sees the 201. The verification needs that count to balance orders in
-- the database against the 201s wrk saw.

dofile(os.getenv("WRK_REPORT_LUA") or "bench/common/wrk_report.lua")

local base_init, base_done = init, done

-- Per-thread state (each wrk thread has its own Lua state).
local auth_headers, bodies, key_prefix, path

function init(args)
  base_init(args)
  sent = 0 -- global: done() reads it through thread:get()
  assert(args[1] and args[2] and args[3], "usage: -- TOKENS_FILE PRODUCTS_FILE KEY_PREFIX")
  auth_headers = {}
  for _, token in ipairs(read_lines(args[1])) do
    table.insert(auth_headers, "Bearer " .. token)
  end
  -- Bodies are built once: the request path only picks one.
  bodies = {}
  for _, product_id in ipairs(read_lines(args[2])) do
    table.insert(bodies, '{"items":[{"product_id":"' .. product_id .. '","quantity":1}]}')
  end
  key_prefix = args[3] .. "-t" .. thread_id
  path = wrk.path
  math.randomseed(os.time() * 1000 + thread_id * 7919)
end

function request()
  sent = sent + 1
  -- Threads start at different offsets so the 64 customers all take load
  -- from the first requests on.
  local token = auth_headers[(sent + (thread_id - 1) * 32) % #auth_headers + 1]
  local body = bodies[math.random(#bodies)]
  local headers = {
    ["Authorization"] = token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("%s-%d-%08x", key_prefix, sent, math.random(0, 0x7fffffff)),
  }
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  base_done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(wrk_threads) do
    total = total + (thread:get("sent") or 0)
  end
  io.write(string.format('WRK_SENT {"sent":%d,"unanswered":%d}\n', total, total - summary.requests))
end
