#!/usr/bin/env bash
# Fulfilment benchmark: synchronous vs asynchronous order placement under load,
# the asynchronous mode's fulfilment lag, and draining a backlog of pending
# orders on one hot product with the API stopped. After every run: no
# oversell, ledger = order lines, store = database, no hold left, every order
# confirmed or rejected.
#
#   flock -x /tmp/opply-bench.lock bash bench/fulfilment/run.sh     (shared machines: take the CPU)
#
# A script to run by hand, never part of the test suite. It uses its own
# database (BENCH_DATABASE, default opply_bench_fulfilment), its own
# redis-server (started on 127.0.0.1:REDIS_PORT, stopped on exit), its own
# queues and exchange on the local RabbitMQ (deleted on exit), and gunicorn on
# 127.0.0.1:PORT. See bench/README.md ("Fulfilment benchmark").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# Its own database unless told (lib.sh's default is the orders benchmark's).
BENCH_DATABASE="${BENCH_DATABASE:-opply_bench_fulfilment}"
# shellcheck source=bench/common/lib.sh
source bench/common/lib.sh

PY="$ROOT/.venv/bin/python"
GUNICORN="$ROOT/.venv/bin/gunicorn"
CELERY="$ROOT/.venv/bin/celery"
LUA="$ROOT/bench/orders/orders.lua"
export WRK_REPORT_LUA="$ROOT/bench/common/wrk_report.lua"

# --- Knobs (environment) ---------------------------------------------------------
DURATION="${DURATION:-15}"        # seconds of measured load per scenario and mode
WARMUP="${WARMUP:-3}"
CONNECTIONS="${CONNECTIONS:-64}"
WRK_THREADS="${WRK_THREADS:-2}"
WORKERS="${WEB_CONCURRENCY:-4}"
PORT="${PORT:-16210}"
REDIS_PORT="${REDIS_PORT:-16201}"
CUSTOMERS="${CUSTOMERS:-64}"
SPREAD_PRODUCTS="${SPREAD_PRODUCTS:-1000}"
HOT_STOCK="${HOT_STOCK:-5000000}"
SPREAD_STOCK="${SPREAD_STOCK:-100000}"
BACKLOG="${BACKLOG:-20000}"       # pending orders to drain with the API stopped
BATCH="${FULFILMENT_BATCH_SIZE:-1000}"
MODES="${MODES-sync async}"       # which modes to load ("" for none; the drain runs unless DRAIN=0)
DRAIN="${DRAIN:-1}"

for knob in DURATION WARMUP CONNECTIONS WRK_THREADS WORKERS PORT REDIS_PORT CUSTOMERS SPREAD_PRODUCTS HOT_STOCK SPREAD_STOCK BACKLOG BATCH; do
  require_positive_int "$knob" "${!knob}"
done
[[ -x "$PY" && -x "$GUNICORN" ]] || die ".venv is missing: run 'make install' first"
command -v redis-server >/dev/null || die "redis-server is required (apt-get install redis-server)"
ensure_wrk

BASE_URL="http://${BENCH_HOST}:${PORT}"
ORDERS_URL="${BASE_URL}/api/orders/orders/"
port_is_free "$PORT" || die "something already answers on ${BASE_URL}: stop it or set PORT"

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS_DIR="$ROOT/bench/results"
mkdir -p "$RESULTS_DIR"
RESULT_JSON="$RESULTS_DIR/fulfilment-${STAMP}.json"
LOGS="$RESULTS_DIR/fulfilment-${STAMP}"
mkdir -p "$LOGS"
WORK="$(mktemp -d)"
GUNICORN_PID="" WORKER_PID="" REDIS_PID=""

stop_server() {
  if [[ -n "$GUNICORN_PID" ]]; then stop_process "$GUNICORN_PID" 25; fi
  GUNICORN_PID=""
}
stop_worker() {
  if [[ -n "$WORKER_PID" ]]; then stop_process "$WORKER_PID" 30; fi
  WORKER_PID=""
}
cleanup() {
  stop_server
  stop_worker
  "$PY" bench/fulfilment/tool.py delete-broker-topology 2>/dev/null || true
  if [[ -n "$REDIS_PID" ]]; then stop_process "$REDIS_PID" 5; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
STARTED=$SECONDS

# --- Environment: bench database, own Redis, own queues ---------------------------------
export BENCH_DATABASE
BENCH_REDIS_DB=1 # db 1 of the benchmark's own redis-server (check_bench_data refuses 0 and 15)
export_bench_environment "$PY"
export REDIS_URL="redis://${BENCH_HOST}:${REDIS_PORT}/0"
export CELERY_QUEUE="bench-fulfilment-${STAMP}"
export ORDER_EVENTS_EXCHANGE="bench-fulfilment-${STAMP}.orders"
export FULFILMENT_BATCH_SIZE="$BATCH"
unset FULFILMENT_QUEUE # derived from CELERY_QUEUE

log "redis-server on 127.0.0.1:${REDIS_PORT} (no persistence; stopped at the end)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$LOGS/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 50); do "$PY" -c "import redis,sys; redis.Redis(port=${REDIS_PORT}).ping()" 2>/dev/null && break; sleep 0.1; done

log "database ${BENCH_DATABASE}: create if missing, migrate"
"$PY" scripts/ensure_database.py
"$PY" manage.py migrate --noinput --verbosity 0
"$PY" manage.py fulfil_pending >/dev/null # an interrupted earlier run may have left pending orders

prepare() { # prepare DIR: count stock back, customers and tokens (bench/orders/prepare.py)
  "$PY" bench/orders/prepare.py --work-dir "$1" --spread "$SPREAD_PRODUCTS" --customers "$CUSTOMERS" \
    --hot-stock "$HOT_STOCK" --spread-stock "$SPREAD_STOCK" 2>>"$LOGS/prepare.log"
  "$PY" manage.py inventory_reconcile --fix >/dev/null 2>&1 || true
}
start_server() { # start_server MODE
  HOST="$BENCH_HOST" PORT="$PORT" WEB_CONCURRENCY="$WORKERS" GUNICORN_THREADS=1 GUNICORN_MAX_REQUESTS=0 \
    GUNICORN_ACCESSLOG=/dev/null ORDER_FULFILMENT="$1" \
    "$GUNICORN" -c config/gunicorn.py config.wsgi >>"$LOGS/gunicorn-$1.log" 2>&1 &
  GUNICORN_PID=$!
  wait_for_url "${BASE_URL}/health/live/" 60 "$GUNICORN_PID" || die "gunicorn did not start; see $LOGS/gunicorn-$1.log"
}
start_worker() { # start_worker LOGNAME: the fulfilment consumer (main process) + a pool of 1
  ORDER_FULFILMENT=async "$CELERY" -A config worker --hostname "${CELERY_QUEUE}@%h" --loglevel INFO --concurrency 1 \
    >>"$LOGS/worker-$1.log" 2>&1 &
  WORKER_PID=$!
  local deadline=$((SECONDS + 60))
  until grep -q "fulfilment consumer on" "$LOGS/worker-$1.log" 2>/dev/null; do
    ((SECONDS < deadline)) || die "the worker did not start consuming; see $LOGS/worker-$1.log"
    kill -0 "$WORKER_PID" 2>/dev/null || die "the worker died; see $LOGS/worker-$1.log"
    sleep 0.2
  done
}
run_wrk() { # run_wrk SECONDS PRODUCTS_FILE TOKENS KEY_PREFIX OUT
  wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "${1}s" --timeout 5s -s "$LUA" "$ORDERS_URL" -- "$3" "$2" "$4" >"$5" 2>&1 ||
    die "wrk failed: $(tail -n 5 "$5")"
  grep -q '^WRK_RESULT ' "$5" || die "wrk printed no WRK_RESULT line: $(tail -n 5 "$5")"
  curl -s -o /dev/null --max-time 60 "${BASE_URL}/health/live/" || die "gunicorn stopped answering"
}
verify() { # verify DIR NAME
  if ! "$PY" bench/fulfilment/tool.py verify --work-dir "$1" --out "$WORK/verify-$2.json"; then
    VERIFY_FAILED="$VERIFY_FAILED $2"
  fi
}
VERIFY_FAILED=""

# --- Load: sync vs async, hot vs spread --------------------------------------------------
for mode in $MODES; do
  dir="$WORK/$mode"
  mkdir -p "$dir"
  log "[$mode] preparing data"
  prepare "$dir"
  since="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_start"])' "$dir/prepare.json")"
  start_server "$mode"
  if [[ "$mode" == async ]]; then start_worker load; fi
  key="bench-${STAMP}-${mode}"
  for scenario in hot spread; do
    run_wrk "$WARMUP" "$dir/${scenario}.txt" "$dir/tokens.txt" "${key}-${scenario}-w" "$WORK/${mode}-${scenario}.warmup.out"
    "$PY" bench/fulfilment/tool.py cpu-snapshot --out "$WORK/cpu-before.json"
    run_wrk "$DURATION" "$dir/${scenario}.txt" "$dir/tokens.txt" "${key}-${scenario}" "$WORK/${mode}-${scenario}.out"
    "$PY" bench/fulfilment/tool.py cpu-snapshot --out "$WORK/cpu-after.json"
    "$PY" bench/fulfilment/tool.py cpu-shares --before "$WORK/cpu-before.json" --after "$WORK/cpu-after.json" --out "$WORK/${mode}-${scenario}.cpu.json"
    log "[$mode] ${scenario}: $(grep -o '"rps":[0-9.]*' "$WORK/${mode}-${scenario}.out") $(grep -o '"statuses":{[^}]*}' "$WORK/${mode}-${scenario}.out")"
  done
  stop_server
  if [[ "$mode" == async ]]; then
    "$PY" bench/fulfilment/tool.py wait-drained --timeout 300 || die "async: orders still pending 300 s after the load"
    "$PY" bench/fulfilment/tool.py lag --since "$since" --out "$WORK/lag.json"
    stop_worker
  fi
  log "[$mode] verifying"
  verify "$dir" "$mode"
done

# --- Drain: a backlog of pending orders on one hot product, API stopped -------------------
if [[ "$DRAIN" == 1 ]]; then
  dir="$WORK/drain"
  mkdir -p "$dir"
  log "[drain] preparing data; accepting ${BACKLOG} orders on the hot product with the API and the worker stopped"
  prepare "$dir"
  since="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_start"])' "$dir/prepare.json")"
  "$PY" bench/fulfilment/tool.py backlog --work-dir "$dir" --orders "$BACKLOG"
  log "[drain] starting the worker (batches of ${BATCH})"
  "$PY" bench/fulfilment/tool.py drain-watch --expect "$BACKLOG" --since "$since" --out "$WORK/drain.json" &
  WATCH_PID=$!
  start_worker drain
  wait "$WATCH_PID" || die "the backlog did not drain"
  stop_worker
  log "[drain] verifying"
  verify "$dir" drain
fi

# --- Report ---------------------------------------------------------------------------------
"$PY" - "$WORK" "$RESULT_JSON" "$STAMP" "$CONNECTIONS" "$WORKERS" "$DURATION" "$BACKLOG" "$BATCH" "$(git rev-parse --short HEAD)" <<'PYEOF'
import json, sys
from pathlib import Path

work, out, stamp, connections, workers, duration, backlog, batch, commit = sys.argv[1:]
work = Path(work)

def wrk(path):
    line = next(l for l in path.read_text().splitlines() if l.startswith("WRK_RESULT "))
    return json.loads(line[len("WRK_RESULT "):])

result = {"timestamp": stamp, "git_commit": commit, "connections": int(connections), "gunicorn_workers": int(workers),
          "duration_s": int(duration), "backlog": int(backlog), "batch": int(batch), "load": {}}
rows = []
for mode in ("sync", "async"):
    for scenario in ("hot", "spread"):
        path = work / f"{mode}-{scenario}.out"
        if not path.exists():
            continue
        r = wrk(path)
        accepted = sum(v for k, v in r["statuses"].items() if k in ("201", "202"))
        other = {k: v for k, v in r["statuses"].items() if k not in ("201", "202")}
        cpu = work / f"{mode}-{scenario}.cpu.json"
        entry = {"accepted_per_s": round(accepted / r["duration_s"], 1), "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
                 "statuses": r["statuses"], "errors": other, "cpu_percent": json.loads(cpu.read_text()) if cpu.exists() else None}
        result["load"][f"{mode}-{scenario}"] = entry
        rows.append(f"{mode:6} {scenario:7} {entry['accepted_per_s']:10.1f} {r['p50_ms']:9.1f} {r['p99_ms']:9.1f}   {json.dumps(r['statuses'])}")
        if entry["cpu_percent"]:
            top = ", ".join(f"{name} {share}" for name, share in list(entry["cpu_percent"].items())[:8])
            rows.append(f"{'':15} CPU % of the machine: {top}")
for name in ("lag", "drain"):
    path = work / f"{name}.json"
    if path.exists():
        result[name] = json.loads(path.read_text())
result["verify"] = {p.stem.removeprefix("verify-"): json.loads(p.read_text()) for p in sorted(work.glob("verify-*.json"))}
Path(out).write_text(json.dumps(result, indent=1) + "\n")

print()
print(f"mode   scenario  accepted/s   p50 ms    p99 ms   statuses   ({connections} connections, {workers} gunicorn workers, {duration} s)")
print("\n".join(rows))
load = result["load"]
if "sync-hot" in load and "async-hot" in load:
    print(f"async hot / sync hot: {load['async-hot']['accepted_per_s'] / load['sync-hot']['accepted_per_s']:.2f}x (goal >= 1.5x)")
if "lag" in result:
    lag = result["lag"]
    print(f"fulfilment lag under load (202 -> confirmed): p50 {lag['p50_s'] * 1000:.0f} ms, p99 {lag['p99_s'] * 1000:.0f} ms, max {lag['max_s'] * 1000:.0f} ms over {lag['orders']} orders (goal p99 < 1 s)")
if "drain" in result:
    d = result["drain"]
    print(f"drain of {d['orders']} pending orders on one hot product: {d['orders_per_second_db']} orders/s (the orders after the first "
          f"batch of {d['first_batch']}, over the {d['seconds_first_to_last_confirmation']:.2f} s from its confirmation to the last); "
          f"{d['orders_per_second_watched']} orders/s as watched from outside (goal > 3,000/s)")
for name, v in result["verify"].items():
    print(f"verify {name}: {'ok' if v['ok'] else 'FAILED'}" + ("" if v["ok"] else " " + "; ".join(c["check"] for c in v["checks"] if not c["ok"])))
print(f"results: {out}")
PYEOF
log "done in $((SECONDS - STARTED)) s (logs: ${LOGS#"$ROOT"/})"
[[ -z "$VERIFY_FAILED" ]] || die "VERIFICATION FAILED:${VERIFY_FAILED}"
