-- wrk script of the catalog benchmark's many-URL scenarios (long tail, churn):
-- every request is a GET of a path picked at random from a file.
--
--   wrk ... -s bench/catalog/urls.lua http://127.0.0.1:PORT -- PATHS_FILE
--
-- PATHS_FILE has one path (with its query string) per line, written by
-- bench/catalog/urls.py. The counting and the WRK_RESULT line come from
-- bench/common/wrk_report.lua (path in WRK_REPORT_LUA). On top of it this
-- script counts the list's X-Cache answers and prints a second line
--
--   WRK_CACHE {"hit":..., "miss":..., "other":...}
--
-- ("other": responses without the header, such as errors).

dofile(os.getenv("WRK_REPORT_LUA") or "bench/common/wrk_report.lua")

local base_init, base_response, base_done = init, response, done

local paths

function init(args)
  base_init(args)
  assert(args[1], "usage: -- PATHS_FILE")
  paths = read_lines(args[1])
  -- globals: done() reads them through thread:get()
  cache_hit, cache_miss, cache_other = 0, 0, 0
  math.randomseed(os.time() * 1000 + thread_id * 7919)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

function response(status, headers, body)
  base_response(status, headers, body)
  local cache = headers["X-Cache"] or headers["x-cache"]
  if cache == "hit" then
    cache_hit = cache_hit + 1
  elseif cache == "miss" then
    cache_miss = cache_miss + 1
  else
    cache_other = cache_other + 1
  end
end

function done(summary, latency, requests)
  base_done(summary, latency, requests)
  local hit, miss, other = 0, 0, 0
  for _, thread in ipairs(wrk_threads) do
    hit = hit + (thread:get("cache_hit") or 0)
    miss = miss + (thread:get("cache_miss") or 0)
    other = other + (thread:get("cache_other") or 0)
  end
  io.write(string.format('WRK_CACHE {"hit":%d,"miss":%d,"other":%d}\n', hit, miss, other))
end
