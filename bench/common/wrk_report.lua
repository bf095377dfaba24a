-- wrk script shared by the benchmarks: counts responses by HTTP status and,
-- when the run is over, prints ONE machine-readable line:
--
--   WRK_RESULT {"requests":..., "rps":..., "p50_ms":..., "p99_ms":..., ...}
--
-- wrk's own `errors.status` only counts statuses >= 400; the brief wants every
-- non-2xx response (a 3xx redirect would be just as wrong), hence the
-- response() hook. It costs a little client CPU per response, the same for
-- every scenario, so the ratios between scenarios are unaffected.

-- Every wrk thread, for done() to collect from: global, so that the scripts
-- that extend this one (dofile) read their own per-thread counters too.
wrk_threads = {}

-- Runs in the main Lua state once per wrk thread, before the run starts; each
-- thread learns its number (1, 2, ...) as the global thread_id.
function setup(thread)
  table.insert(wrk_threads, thread)
  thread:set("thread_id", #wrk_threads)
end

-- The non-empty lines of a file (the URL, token and product lists the
-- benchmarks hand to wrk); an empty list is an error.
function read_lines(path)
  local lines = {}
  local file = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in file:lines() do
    if line ~= "" then
      table.insert(lines, line)
    end
  end
  file:close()
  assert(#lines > 0, path .. " is empty")
  return lines
end

-- Each wrk thread has its own Lua state: these globals are per thread and are
-- collected by done() through thread:get().
function init(args)
  non2xx = 0
  statuses = {}
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

-- wrk reports latencies and durations in microseconds.
function done(summary, latency, requests)
  local bad = 0
  local by_status = {}
  for _, thread in ipairs(wrk_threads) do
    bad = bad + (thread:get("non2xx") or 0)
    for code, count in pairs(thread:get("statuses") or {}) do
      by_status[code] = (by_status[code] or 0) + count
    end
  end
  local status_parts = {}
  for code, count in pairs(by_status) do
    table.insert(status_parts, string.format('"%s":%d', code, count))
  end
  table.sort(status_parts)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_s":%.3f,"rps":%.2f,"bytes":%d,'
      .. '"mean_ms":%.3f,"p50_ms":%.3f,"p90_ms":%.3f,"p95_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,'
      .. '"non2xx":%d,"statuses":{%s},'
      .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d}}\n',
    summary.requests, seconds, summary.requests / seconds, summary.bytes,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    bad, table.concat(status_parts, ","),
    e.connect, e.read, e.write, e.timeout
  ))
end
