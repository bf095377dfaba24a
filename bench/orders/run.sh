#!/usr/bin/env bash
# Orders write benchmark: gunicorn (production settings) + wrk placing orders,
# then a check that nothing was oversold, then pgbench as the database's floor.
#
#   bash bench/orders/run.sh
#
# A script to run by hand, never part of the test suite. Like the catalog
# benchmark it uses its own PostgreSQL database (opply_bench) and Redis db
# (13), starts gunicorn on 127.0.0.1 only, and loads two scenarios with
# CONNECTIONS concurrent clients placing orders: (a) all on one hot product,
# (b) spread over SPREAD_PRODUCTS products. Afterwards it verifies the stock
# (bench/orders/verify.py), runs pgbench with a one-row conditional UPDATE on
# a scratch table, and prints the figures against the goals
# (bench/orders/summarise.py). Exits 1 if the verification fails.
# See bench/README.md ("Orders benchmark") for the knobs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/common/lib.sh
source bench/common/lib.sh

PY="$ROOT/.venv/bin/python"
GUNICORN="$ROOT/.venv/bin/gunicorn"
LUA="$ROOT/bench/orders/orders.lua"
# orders.lua builds on the shared reporting script (dofile of this path).
export WRK_REPORT_LUA="$ROOT/bench/common/wrk_report.lua"

# --- Knobs (environment) ---------------------------------------------------------
DURATION="${DURATION:-20}"       # seconds of measured load per run
WARMUP="${WARMUP:-3}"            # seconds of load before each run (its orders are verified too)
REPEAT="${REPEAT:-1}"            # runs per scenario; the median is reported
CONNECTIONS="${CONNECTIONS:-64}" # concurrent clients (wrk connections, pgbench clients)
WRK_THREADS="${WRK_THREADS:-2}"
WORKERS="${WEB_CONCURRENCY:-4}"
PORT="${PORT:-8766}"
CUSTOMERS="${CUSTOMERS:-64}"             # distinct customers (tokens) the load comes from
SPREAD_PRODUCTS="${SPREAD_PRODUCTS:-1000}"
# Enough stock that nothing runs out in a run at any plausible rate: a
# product that did would answer 409s, which count as errors.
HOT_STOCK="${HOT_STOCK:-5000000}"
SPREAD_STOCK="${SPREAD_STOCK:-100000}"
PGBENCH_SECONDS="${PGBENCH_SECONDS:-10}"
# Off by default, as in the catalog benchmark: a worker restart would land
# at random in the figures.
MAX_REQUESTS="${GUNICORN_MAX_REQUESTS:-0}"

for knob in DURATION WARMUP REPEAT CONNECTIONS WRK_THREADS WORKERS PORT CUSTOMERS SPREAD_PRODUCTS HOT_STOCK SPREAD_STOCK PGBENCH_SECONDS; do
  require_positive_int "$knob" "${!knob}"
done
[[ "$MAX_REQUESTS" =~ ^[0-9]+$ ]] || die "GUNICORN_MAX_REQUESTS must be a whole number, got '$MAX_REQUESTS'"
((CONNECTIONS >= WRK_THREADS)) || die "CONNECTIONS ($CONNECTIONS) must be at least WRK_THREADS ($WRK_THREADS)"
((PORT < 65536)) || die "PORT must be below 65536"
((CUSTOMERS <= 99)) || die "CUSTOMERS must be at most 99 (usernames bench-orders-01..99)"
((SPREAD_PRODUCTS <= 9999)) || die "SPREAD_PRODUCTS must be at most 9999 (SKUs BENCH-SPREAD-0001..9999)"

[[ -x "$PY" && -x "$GUNICORN" ]] || die ".venv is missing: run 'make install' first"
ensure_wrk
for tool in curl psql pgbench; do
  command -v "$tool" >/dev/null || die "$tool is required (PostgreSQL client tools: apt-get install postgresql-client)"
done

BASE_URL="http://${BENCH_HOST}:${PORT}"
ORDERS_URL="${BASE_URL}/api/orders/orders/"
port_is_free "$PORT" || die "something already answers on ${BASE_URL}: stop it or set PORT"

# The catalog benchmark shares opply_bench and Redis db 13 and flushes that db
# when it starts: running both at once distorts both sets of figures and can
# fail this run's Redis checks.
if pgrep -f 'bench/catalog/run.sh' >/dev/null; then
  log "WARNING: bench/catalog/run.sh is running: the figures will be distorted (and its start flushes Redis db 13)"
fi

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS_DIR="$ROOT/bench/results"
mkdir -p "$RESULTS_DIR"
RESULT_JSON="$RESULTS_DIR/orders-${STAMP}.json"
GUNICORN_LOG="$RESULTS_DIR/orders-${STAMP}-gunicorn.log"
WORK="$(mktemp -d)"
GUNICORN_PID=""
WAITS_PID=""

cleanup() {
  if [[ -n "$WAITS_PID" ]]; then
    stop_process "$WAITS_PID" 5
  fi
  if [[ -n "$GUNICORN_PID" ]]; then
    stop_process "$GUNICORN_PID" 25
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

STARTED=$SECONDS

# --- Environment of every manage.py command and of the server ------------------
# prepare.py mints the customers' tokens with the run's DJANGO_SECRET_KEY and
# the server checks them with it.
export_bench_environment "$PY"
PG_DB="opply_bench"
# psql and pgbench: the same server and database, no password prompt, no
# NOTICE chatter ("relation already exists, skipping"). Passed to them only,
# not exported: libpq would apply PGOPTIONS to the server's connections too.
PG_ENV=(env PGHOST="$BENCH_HOST" PGPORT=5432 PGUSER=postgres PGDATABASE="$PG_DB" PGOPTIONS="-c client_min_messages=warning")
PSQL=("${PG_ENV[@]}" psql -X -q -v ON_ERROR_STOP=1)

# --- Database, Redis, data -------------------------------------------------------------
log "database ${PG_DB}: create if missing, migrate"
"$PY" scripts/ensure_database.py
"$PY" manage.py migrate --noinput --verbosity 0

# Reservations can only be left over by an interrupted earlier run of this
# benchmark (nothing else places orders in db 13, and no sweeper runs here):
# drop them so that the "no hold left" check speaks about this run only. The
# reserved counters are then recomputed below by inventory_reconcile --fix.
# Redis is not flushed: the catalog benchmark's cached pages can stay.
"$PY" - <<'EOF' || die "cannot reach Redis on 127.0.0.1:6379"
import os

import redis

client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=3)
stale = list(client.scan_iter(match="hold:*", count=1000))
if stale:
    client.delete(*stale)
client.delete("holds:expiry")
if stale:
    print(f"[bench] dropped {len(stale)} reservation(s) left by an interrupted run")
EOF

# The ledger must balance before the run, or a failure afterwards would say
# nothing about this run.
"$PY" manage.py stock_audit >"$WORK/audit-before.out" 2>&1 ||
  die "stock_audit fails BEFORE the run (the bench database is already inconsistent): $(tail -n 3 "$WORK/audit-before.out")"

log "preparing ${SPREAD_PRODUCTS} + 1 products and ${CUSTOMERS} customers (created on the first run, then counted back to their starting stock)"
"$PY" bench/orders/prepare.py --work-dir "$WORK" --spread "$SPREAD_PRODUCTS" --customers "$CUSTOMERS" \
  --hot-stock "$HOT_STOCK" --spread-stock "$SPREAD_STOCK"

# Availability in Redis must start in line with PostgreSQL (a recreated
# database, an interrupted run): repair what drifts, then require no drift.
"$PY" manage.py inventory_reconcile --fix >"$WORK/reconcile-before.out" 2>&1 ||
  die "inventory_reconcile --fix failed before the run: $(tail -n 3 "$WORK/reconcile-before.out")"
if grep -q '^repaired' "$WORK/reconcile-before.out"; then
  log "availability store: $(grep '^repaired' "$WORK/reconcile-before.out") (left by an earlier run or a recreated database)"
fi
"$PY" manage.py inventory_reconcile >"$WORK/reconcile-before2.out" 2>&1 ||
  die "the availability store still drifts after --fix: $(tail -n 3 "$WORK/reconcile-before2.out")"

# --- Server --------------------------------------------------------------------------
log "starting gunicorn on ${BASE_URL} with $WORKERS sync workers (log: ${GUNICORN_LOG#"$ROOT"/})"
# HOST is forced to loopback; the access log goes to /dev/null because
# config/gunicorn.py cannot switch it off (an empty value makes gunicorn fail).
HOST="$BENCH_HOST" PORT="$PORT" WEB_CONCURRENCY="$WORKERS" GUNICORN_THREADS=1 \
  GUNICORN_MAX_REQUESTS="$MAX_REQUESTS" GUNICORN_ACCESSLOG=/dev/null \
  "$GUNICORN" -c config/gunicorn.py config.wsgi >"$GUNICORN_LOG" 2>&1 &
GUNICORN_PID=$!
GUNICORN_MASTER_PID=$GUNICORN_PID # kept for the report after the server is stopped
wait_for_url "${BASE_URL}/health/live/" 60 "$GUNICORN_PID" ||
  die "gunicorn did not answer ${BASE_URL}/health/live/ within 60 s; see $GUNICORN_LOG"

# Every Idempotency-Key of this run starts with KEY_RUN: unique per run, since
# the server keeps keys 24 hours per customer and would replay an old one.
KEY_RUN="bench-${STAMP}-$("$PY" -c 'import secrets; print(secrets.token_hex(4))')"

# One order by hand before any load, to fail clearly (auth, routing, stock)
# rather than with a table full of errors. post_orders N NAME places N orders
# on the hot product one at a time with curl and records them like a wrk run
# in $WORK/hot.NAME.out (they are real orders: the verification counts them);
# it leaves the median time in ALONE_MS.
HOT_ID="$(head -n 1 "$WORK/hot.txt")"
AUTH_HEADER="Authorization: Bearer $(head -n 1 "$WORK/tokens.txt")"
PROBE_BODY="{\"items\":[{\"product_id\":\"${HOT_ID}\",\"quantity\":1}]}"
post_orders() {
  local count="$1" label="$2" k status seconds
  local -a times=()
  for ((k = 1; k <= count; k++)); do
    read -r status seconds < <(curl -sS --max-time 30 -o "$WORK/probe.json" -w '%{http_code} %{time_total}\n' -X POST \
      -H "$AUTH_HEADER" -H 'Content-Type: application/json' -H "Idempotency-Key: ${KEY_RUN}-${label}-${k}" \
      -d "$PROBE_BODY" "$ORDERS_URL" || echo "000 0")
    [[ "$status" == 201 ]] || die "placing an order answered $status, not 201: $(head -c 500 "$WORK/probe.json")"
    times+=("$seconds")
  done
  printf 'WRK_RESULT {"requests":%d,"statuses":{"201":%d}}\nWRK_SENT {"sent":%d,"unanswered":0}\n' \
    "$count" "$count" "$count" >"$WORK/hot.${label}.out"
  ALONE_MS="$("$PY" -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[1:])) * 1000:.1f}")' "${times[@]}")"
}
post_orders 1 probe

# --- Load ----------------------------------------------------------------------------
# Interleaved, and in alternating order (hot, spread, spread, hot, hot...),
# so that drift over the run (table and index growth, autovacuum, CPU heat)
# and being first after the preparation favour neither scenario. Each
# measured run follows a warm-up on the same scenario; warm-up orders are real
# and are verified too. wrk's timeout is 5 s so that a slow order is measured
# rather than dropped as an error.
declare -A PRODUCTS_FILE=([hot]="$WORK/hot.txt" [spread]="$WORK/spread.txt")
SCENARIO_NAMES=(hot spread)

run_wrk() {
  local seconds="$1" products="$2" key_prefix="$3" out="$4"
  wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "${seconds}s" --timeout 5s -s "$LUA" "$ORDERS_URL" \
    -- "$WORK/tokens.txt" "$products" "$key_prefix" >"$out" 2>&1 ||
    die "wrk failed: $(tail -n 5 "$out")"
  grep -q '^WRK_RESULT ' "$out" || die "wrk printed no WRK_RESULT line: $(tail -n 5 "$out")"
}

# drain: wait until the server has taken every connection wrk left queued.
# wrk stops at its deadline with a request in flight on every connection;
# with sync workers most of them wait in the listen backlog, and the server
# still places those orders. A request made now is accepted after all of
# them (the backlog is first in, first out), so once it is answered the
# leftovers are done or running: the next run starts on an idle server, and
# a graceful stop lets the running ones finish (it would drop the backlog).
drain() {
  curl -s -o /dev/null --max-time 60 "${BASE_URL}/health/live/" || die "gunicorn stopped answering; see $GUNICORN_LOG"
}

TOTAL_RUNS=$((REPEAT * ${#SCENARIO_NAMES[@]}))
log "load: ${#SCENARIO_NAMES[@]} scenarios x $REPEAT run(s) x (${WARMUP} s warm-up + ${DURATION} s), about $((TOTAL_RUNS * (WARMUP + DURATION))) s"
run=0
for ((n = 1; n <= REPEAT; n++)); do
  order=("${SCENARIO_NAMES[@]}")
  if ((n % 2 == 0)); then order=("${SCENARIO_NAMES[1]}" "${SCENARIO_NAMES[0]}"); fi
  for name in "${order[@]}"; do
    run=$((run + 1))
    run_wrk "$WARMUP" "${PRODUCTS_FILE[$name]}" "${KEY_RUN}-${name}-w${n}" "$WORK/${name}.warmup${n}.out"
    drain
    # CPU snapshots around the measured run: the summary flags runs during
    # which other processes took CPU from the benchmark.
    "$PY" bench/common/cpu_snapshot.py >"$WORK/${name}.${n}.cpu-before.json"
    # What PostgreSQL's backends wait on meanwhile (row lock, WAL flush...).
    "$PY" bench/orders/pg_waits.py --seconds "$DURATION" --out "$WORK/${name}.${n}.pgwaits.json" &
    WAITS_PID=$!
    run_wrk "$DURATION" "${PRODUCTS_FILE[$name]}" "${KEY_RUN}-${name}-${n}" "$WORK/${name}.${n}.out"
    "$PY" bench/common/cpu_snapshot.py >"$WORK/${name}.${n}.cpu-after.json"
    wait "$WAITS_PID" || log "WARNING: the pg_stat_activity sampler failed (no wait figures for ${name} run ${n})"
    WAITS_PID=""
    drain
    log "run $run/$TOTAL_RUNS ${name}: $(grep -o '"rps":[0-9.]*' "$WORK/${name}.${n}.out" | head -n 1) $(grep -o '"statuses":{[^}]*}' "$WORK/${name}.${n}.out" | head -n 1)"
  done
done

# The latency of an order alone (no queueing), to read the loaded figures
# against: measured now that every worker has its connections open (a
# worker's first request costs much more). Sequential, after the last drain:
# no load meanwhile.
ALONE_SAMPLES=10
post_orders "$ALONE_SAMPLES" alone
log "one order alone (no load, warm workers): ${ALONE_MS} ms (median of ${ALONE_SAMPLES}, curl)"

# A graceful stop: every request that reached a worker (including those wrk
# cut off at its deadline) runs to its end before the checks start. It also
# frees the CPU for pgbench.
log "stopping gunicorn (in-flight requests finish first)"
stop_process "$GUNICORN_PID" 25
GUNICORN_PID=""

# --- Verification --------------------------------------------------------------------
log "verifying: ledger, stock sold vs orders, orders vs 201s, idempotency records, Redis vs PostgreSQL, leftover holds"
VERIFY_RC=0
"$PY" bench/orders/verify.py --work-dir "$WORK" --key-prefix "$KEY_RUN" --out "$WORK/verify.json" || VERIFY_RC=$?
[[ -f "$WORK/verify.json" ]] || die "verify.py crashed (exit $VERIFY_RC) before writing its result"

# --- Database floor: pgbench -----------------------------------------------------------
# The same single-row conditional UPDATE an order ends with, alone, in
# autocommit (one commit each), on a scratch table in the same database: what
# PostgreSQL itself manages on this machine, hot row vs spread rows. Never on
# the catalog tables: pgbench's updates have no ledger rows and would break
# stock_audit. The table is reset before each scenario.
FLOOR_STOCK=100000000
"${PSQL[@]}" -c "CREATE TABLE IF NOT EXISTS public.bench_floor_stock (
    product_id int PRIMARY KEY,
    on_hand int NOT NULL CHECK (on_hand >= 0),
    version bigint NOT NULL DEFAULT 0)"
printf '\\set p 1\nUPDATE public.bench_floor_stock SET on_hand = on_hand - 1, version = version + 1 WHERE product_id = :p AND on_hand >= 1;\n' \
  >"$WORK/pgbench-hot.sql"
printf '\\set p random(1, %d)\nUPDATE public.bench_floor_stock SET on_hand = on_hand - 1, version = version + 1 WHERE product_id = :p AND on_hand >= 1;\n' \
  "$SPREAD_PRODUCTS" >"$WORK/pgbench-spread.sql"

for name in "${SCENARIO_NAMES[@]}"; do
  "${PSQL[@]}" -c "TRUNCATE public.bench_floor_stock" \
    -c "INSERT INTO public.bench_floor_stock (product_id, on_hand) SELECT g, ${FLOOR_STOCK} FROM generate_series(1, ${SPREAD_PRODUCTS}) g" \
    -c "VACUUM ANALYZE public.bench_floor_stock"
  "$PY" bench/common/cpu_snapshot.py >"$WORK/pgbench-${name}.cpu-before.json"
  "${PG_ENV[@]}" pgbench -n -r -c "$CONNECTIONS" -j "$WRK_THREADS" -T "$PGBENCH_SECONDS" -f "$WORK/pgbench-${name}.sql" >"$WORK/pgbench-${name}.out" 2>&1 ||
    die "pgbench ${name} failed: $(tail -n 5 "$WORK/pgbench-${name}.out")"
  "$PY" bench/common/cpu_snapshot.py >"$WORK/pgbench-${name}.cpu-after.json"
  # The table afterwards: units taken and versions must both equal the
  # transactions pgbench counted (every UPDATE found its row and stock).
  "${PSQL[@]}" -At -c "SELECT json_build_object('units_taken', sum(${FLOOR_STOCK} - on_hand), 'versions', sum(version), 'min_on_hand', min(on_hand)) FROM public.bench_floor_stock" \
    >"$WORK/pgbench-${name}.floor.json"
  log "pgbench ${name}: $(grep -E '^tps' "$WORK/pgbench-${name}.out")"
done

# --- Report -----------------------------------------------------------------------------
PG_SETTINGS="$("${PSQL[@]}" -At -c "SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync', 'max_connections', 'shared_buffers', 'wal_sync_method', 'commit_delay')")"
GIT_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
GIT_DIRTY="$([[ -n "$(git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo yes || echo no)"
args=(--work-dir "$WORK" --out "$RESULT_JSON" --repeat "$REPEAT" --own-pid "$$" --gunicorn-pid "$GUNICORN_MASTER_PID")
args+=(
  --meta "timestamp=${STAMP}" --meta "git_commit=${GIT_COMMIT}" --meta "git_dirty=${GIT_DIRTY}"
  --meta "workers=${WORKERS}" --meta "gunicorn_max_requests=${MAX_REQUESTS}"
  --meta "wrk_threads=${WRK_THREADS}" --meta "connections=${CONNECTIONS}" --meta "customers=${CUSTOMERS}"
  --meta "duration_s=${DURATION}" --meta "warmup_s=${WARMUP}" --meta "repeat=${REPEAT}"
  --meta "spread_products=${SPREAD_PRODUCTS}" --meta "hot_stock=${HOT_STOCK}" --meta "spread_stock=${SPREAD_STOCK}"
  --meta "pgbench_clients=${CONNECTIONS}" --meta "pgbench_threads=${WRK_THREADS}" --meta "pgbench_seconds=${PGBENCH_SECONDS}"
  --meta "postgres_settings=${PG_SETTINGS}" --meta "idempotency_key_prefix=${KEY_RUN}"
  --meta "order_alone_ms=${ALONE_MS}" --meta "cpus=$(nproc)" --meta "wall_s=$((SECONDS - STARTED))"
)
"$PY" -m bench.orders.summarise "${args[@]}"
log "done in $((SECONDS - STARTED)) s (gunicorn log: ${GUNICORN_LOG#"$ROOT"/})"
if ((VERIFY_RC != 0)); then
  die "VERIFICATION FAILED (see the [FAIL] lines above): stock, orders or availability do not add up"
fi
