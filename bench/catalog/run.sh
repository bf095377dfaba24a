#!/usr/bin/env bash
# Catalog read benchmark: gunicorn (production settings) + wrk, on loopback.
#
#   bash bench/catalog/run.sh
#
# A script to run by hand, never part of the test suite. It uses its own
# PostgreSQL database (opply_bench) and Redis db (13) so that development and
# test data are never touched, seeds the catalog there if needed, starts
# gunicorn on 127.0.0.1, loads four scenarios with wrk and prints the medians
# and ratios (bench/catalog/summarise.py). See bench/README.md for the knobs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/common/lib.sh
source bench/common/lib.sh

PY="$ROOT/.venv/bin/python"
GUNICORN="$ROOT/.venv/bin/gunicorn"
LUA="$ROOT/bench/common/wrk_report.lua"

# --- Knobs (environment) ---------------------------------------------------------
PRODUCTS="${PRODUCTS:-100000}"
DURATION="${DURATION:-10}"       # seconds of measured load per run
WARMUP="${WARMUP:-3}"            # seconds of discarded load before each run
REPEAT="${REPEAT:-3}"            # runs per scenario; the median is reported
CONNECTIONS="${CONNECTIONS:-32}"
WRK_THREADS="${WRK_THREADS:-2}"
WORKERS="${WEB_CONCURRENCY:-4}"
PORT="${PORT:-8765}"
# Worker recycling (gunicorn's max_requests) restarts a worker every ~10k
# requests: a second-long hiccup that would land at random in the figures.
# Off by default; GUNICORN_MAX_REQUESTS=10000 measures it like production.
MAX_REQUESTS="${GUNICORN_MAX_REQUESTS:-0}"
# A search term and category that match the generated catalog: product i is
# in category i % 10 (1 = coffee) and its adjective is ADJECTIVES[(7 i) % 16]
# (opply/catalog/seed.py), so coffee products only carry odd-indexed adjectives
# ("Smoked", "Fresh", ...); "roasted" + coffee would match nothing.
FILTER_QUERY="${FILTER_QUERY:-category=coffee&search=smoked&min_price=5&max_price=80&ordering=-price}"
# Distinct paths of the long-tail scenario (drawn at random per request).
LONGTAIL_URLS="${LONGTAIL_URLS:-50000}"
# Churn: 1 adds two scenarios on the same warm set of searches that do not
# match one popular product (the first of the default list): churn-quiet,
# then churn with that product sold out and restocked every CHURN_EVERY s by a
# staff stock count (bench/catalog/churn.py). 0 leaves them out.
CHURN="${CHURN:-1}"
CHURN_EVERY="${CHURN_EVERY:-3}"
# Single cold requests (page cache dropped before each), median of this many.
UNCACHED_SAMPLES="${UNCACHED_SAMPLES:-5}"

for knob in PRODUCTS DURATION WARMUP REPEAT CONNECTIONS WRK_THREADS WORKERS PORT LONGTAIL_URLS UNCACHED_SAMPLES; do
  require_positive_int "$knob" "${!knob}"
done
[[ "$CHURN" =~ ^[01]$ ]] || die "CHURN must be 0 or 1, got '$CHURN'"
[[ "$CHURN_EVERY" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "CHURN_EVERY must be a number of seconds, got '$CHURN_EVERY'"
[[ "$MAX_REQUESTS" =~ ^[0-9]+$ ]] || die "GUNICORN_MAX_REQUESTS must be a whole number, got '$MAX_REQUESTS'"
((CONNECTIONS >= WRK_THREADS)) || die "CONNECTIONS ($CONNECTIONS) must be at least WRK_THREADS ($WRK_THREADS)"
((PORT < 65536)) || die "PORT must be below 65536"

[[ -x "$PY" && -x "$GUNICORN" ]] || die ".venv is missing: run 'make install' first"
ensure_wrk
command -v curl >/dev/null || die "curl is required"

BASE_URL="http://${BENCH_HOST}:${PORT}"
port_is_free "$PORT" || die "something already answers on ${BASE_URL}: stop it or set PORT"

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS_DIR="$ROOT/bench/results"
mkdir -p "$RESULTS_DIR"
RESULT_JSON="$RESULTS_DIR/catalog-${STAMP}.json"
GUNICORN_LOG="$RESULTS_DIR/catalog-${STAMP}-gunicorn.log"
WORK="$(mktemp -d)"
GUNICORN_PID=""

cleanup() {
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
export_bench_environment "$PY"

# --- Database, cache, data ---------------------------------------------------------
log "flushing Redis db 13 (the benchmark's own) so no page is cached from a previous run"
"$PY" -c 'import os, redis; redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=3).flushdb()' ||
  die "cannot reach Redis on 127.0.0.1:6379"

log "database opply_bench: create if missing, migrate"
"$PY" scripts/ensure_database.py
"$PY" manage.py migrate --noinput --verbosity 0

count_products() {
  "$PY" manage.py shell -c 'from opply.catalog.models import Product; print(Product.objects.count())' | tail -n 1
}
EXISTING="$(count_products)"
if ((EXISTING < PRODUCTS)); then
  log "seeding $((PRODUCTS - EXISTING)) products (the bench database has $EXISTING, $PRODUCTS asked)"
  "$PY" manage.py seed_catalog --products "$((PRODUCTS - EXISTING))"
  EXISTING="$(count_products)"
else
  log "the bench database already has $EXISTING products ($PRODUCTS asked): no seeding"
fi

# A customer (not staff: staff see another list) with a password made up now.
BENCH_USERNAME="bench-customer"
BENCH_PASSWORD="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')"
export BENCH_USERNAME BENCH_PASSWORD
"$PY" manage.py shell -c '
import os
from opply.identity.models import User

username, password = os.environ["BENCH_USERNAME"], os.environ["BENCH_PASSWORD"]
user = User.objects.filter(username=username).first()
if user is None:
    user = User.objects.create_user(username=username, email=f"{username}@example.com", password=password)
user.set_password(password)
user.is_staff = user.is_superuser = False
user.is_active = True
user.save()
'

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

TOKEN_JSON="$(curl -sS --max-time 10 -H 'Content-Type: application/json' \
  -d "{\"username\":\"${BENCH_USERNAME}\",\"password\":\"${BENCH_PASSWORD}\"}" "${BASE_URL}/api/identity/token/")"
TOKEN="$(printf '%s' "$TOKEN_JSON" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["access"])' 2>/dev/null)" ||
  die "could not get a JWT from /api/identity/token/: $TOKEN_JSON"
AUTH_HEADER="Authorization: Bearer ${TOKEN}"

# --- Scenarios: check each answers 200 (and is not empty) before any load ---------
declare -a NAMES=() PATHS=() AUTHED=() URL_FILES=()

# probe NAME PATH AUTH(yes|no): one request with curl; fail loudly unless 200.
# Registers the scenario and leaves the body in $WORK/NAME.json.
probe() {
  local name="$1" path="$2" auth="$3" status
  local -a headers=()
  if [[ "$auth" == yes ]]; then headers=(-H "$AUTH_HEADER"); fi
  status="$(curl -sS --max-time 30 -o "$WORK/$name.json" -w '%{http_code}' "${headers[@]}" "${BASE_URL}${path}")" ||
    die "$name: GET $path failed"
  [[ "$status" == 200 ]] || die "$name: GET $path answered $status, not 200: $(head -c 500 "$WORK/$name.json")"
  NAMES+=("$name")
  PATHS+=("$path")
  AUTHED+=("$auth")
  URL_FILES+=("")
}

# many_urls NAME FILE: a scenario of many paths (one a line, each probed
# lightly: the first must answer 200); wrk picks one at random per request.
many_urls() {
  local name="$1" file="$2" first
  first="$(head -n 1 "$file")"
  probe "$name" "$first" yes
  PATHS[-1]="$first (and $(($(wc -l <"$file") - 1)) more: ${file#"$WORK"/})"
  URL_FILES[-1]="$file"
}

json_count() {
  "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["count"])' "$1"
}

probe health-live /health/live/ no
probe first-page /api/catalog/products/ yes
LISTED="$(json_count "$WORK/first-page.json")"
((LISTED > 0)) || die "the product list is empty for a customer: nothing to benchmark"
# A page about two thirds of the way through the list (20 products a page).
PAGES=$(((LISTED + 19) / 20))
DEEP_PAGE=$((PAGES * 2 / 3 > 0 ? PAGES * 2 / 3 : 1))
# (or, where the API has cursors, the cursor that starts there: pages that deep are refused)
probe deep-page "$("$PY" -m bench.catalog.urls deep --offset $(((DEEP_PAGE - 1) * 20)))" yes
probe filtered "/api/catalog/products/?${FILTER_QUERY}" yes
FILTERED_COUNT="$(json_count "$WORK/filtered.json")"
((FILTERED_COUNT > 0)) || die "the filtered scenario (?${FILTER_QUERY}) matches no product: pick a FILTER_QUERY that does"
log "$EXISTING products, $LISTED listed ($PAGES pages); deep page $DEEP_PAGE; filtered query matches $FILTERED_COUNT"

# The long tail: random searches, category + ordering, price ranges and
# depths (bench/catalog/urls.py), mostly cache misses.
"$PY" -m bench.catalog.urls longtail --count "$LONGTAIL_URLS" --pages "$PAGES" --seed 1 >"$WORK/longtail.txt"
cp "$WORK/longtail.txt" "$RESULTS_DIR/catalog-${STAMP}-longtail.txt"
many_urls longtail "$WORK/longtail.txt"

if ((CHURN)); then
  STAFF_PASSWORD="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')"
  export STAFF_PASSWORD
  "$PY" manage.py shell -c '
import os
from opply.identity.models import User

user = User.objects.filter(username="bench-staff").first()
if user is None:
    user = User.objects.create_user(username="bench-staff", email="bench-staff@example.com", password=os.environ["STAFF_PASSWORD"])
user.set_password(os.environ["STAFF_PASSWORD"])
user.is_staff = True
user.is_active = True
user.save()
'
  STAFF_JSON="$(curl -sS --max-time 10 -H 'Content-Type: application/json' \
    -d "{\"username\":\"bench-staff\",\"password\":\"${STAFF_PASSWORD}\"}" "${BASE_URL}/api/identity/token/")"
  STAFF_TOKEN="$(printf '%s' "$STAFF_JSON" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["access"])' 2>/dev/null)" ||
    die "could not get a staff JWT: $STAFF_JSON"
  CHURN_PRODUCT="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["results"][0]["id"])' "$WORK/first-page.json")"
  CHURN_NAME="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["results"][0]["name"])' "$WORK/first-page.json")"
  "$PY" -m bench.catalog.urls churn --avoid "$CHURN_NAME" >"$WORK/churn.txt"
  cp "$WORK/churn.txt" "$RESULTS_DIR/catalog-${STAMP}-churn.txt"
  many_urls churn-quiet "$WORK/churn.txt"
  many_urls churn "$WORK/churn.txt"
  log "churn: '$CHURN_NAME' ($CHURN_PRODUCT) sold out and restocked every ${CHURN_EVERY} s during the churn runs"
fi

# --- Load ----------------------------------------------------------------------------
# Runs are interleaved (every scenario once, then again...) so that drift over
# the run (caches, background work, CPU heat) spreads over all scenarios
# instead of favouring the first. Each measured run follows a discarded
# warm-up on the same URL. wrk's timeout is raised to 5 s so that a slow
# response is measured rather than dropped as an error.
run_wrk() {
  local seconds="$1" url="$2" auth="$3" out="$4" url_file="${5:-}"
  local -a headers=() script=(-s "$LUA")
  if [[ "$auth" == yes ]]; then headers=(-H "$AUTH_HEADER"); fi
  if [[ -n "$url_file" ]]; then
    script=(-s "$ROOT/bench/catalog/urls.lua")
    url="$BASE_URL"
  fi
  WRK_REPORT_LUA="$LUA" wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "${seconds}s" --timeout 5s "${script[@]}" "${headers[@]}" "$url" \
    ${url_file:+-- "$url_file"} >"$out" 2>&1 ||
    die "wrk failed on $url: $(tail -n 5 "$out")"
}

# After a run whose requests outlast wrk's timeout (the long tail before
# issue 14), gunicorn and PostgreSQL are still working off the backlog: wait
# until /health/live/ answers at once (at most 60 s) so that it does not land
# in the next scenario's figures.
wait_idle() {
  local k seconds
  for ((k = 0; k < 300; k++)); do
    seconds="$(curl -sS --max-time 5 -o /dev/null -w '%{time_total}' "${BASE_URL}/health/live/" 2>/dev/null || echo 5)"
    awk -v s="$seconds" 'BEGIN { exit !(s < 0.05) }' && return 0
    sleep 0.2
  done
  log "WARNING: the server was still busy 60 s after the run"
}

TOTAL_RUNS=$((REPEAT * ${#NAMES[@]}))
log "load: ${#NAMES[@]} scenarios x $REPEAT runs x (${WARMUP} s warm-up + ${DURATION} s), about $((TOTAL_RUNS * (WARMUP + DURATION))) s"
run=0
for ((n = 1; n <= REPEAT; n++)); do
  for i in "${!NAMES[@]}"; do
    run=$((run + 1))
    url="${BASE_URL}${PATHS[$i]}"
    CHURN_PID=""
    if [[ "${NAMES[$i]}" == churn ]]; then
      "$PY" -m bench.catalog.churn --base-url "$BASE_URL" --token "$STAFF_TOKEN" --product "$CHURN_PRODUCT" \
        --every "$CHURN_EVERY" --seconds $((WARMUP + DURATION + 30)) >"$WORK/churn.${n}.flips" 2>&1 &
      CHURN_PID=$!
    fi
    run_wrk "$WARMUP" "$url" "${AUTHED[$i]}" "$WORK/warmup.out" "${URL_FILES[$i]}"
    # CPU snapshots around the measured run: the summary flags runs during
    # which other processes (a test suite...) took CPU from the benchmark.
    "$PY" bench/common/cpu_snapshot.py >"$WORK/${NAMES[$i]}.${n}.cpu-before.json"
    run_wrk "$DURATION" "$url" "${AUTHED[$i]}" "$WORK/${NAMES[$i]}.${n}.out" "${URL_FILES[$i]}"
    "$PY" bench/common/cpu_snapshot.py >"$WORK/${NAMES[$i]}.${n}.cpu-after.json"
    if [[ -n "$CHURN_PID" ]]; then
      kill -TERM "$CHURN_PID" 2>/dev/null || true
      wait "$CHURN_PID" || true
      grep -h '^CHURN ' "$WORK/churn.${n}.flips" >>"$WORK/${NAMES[$i]}.${n}.out" || true
    fi
    log "run $run/$TOTAL_RUNS ${NAMES[$i]}: $(grep -o '"rps":[0-9.]*' "$WORK/${NAMES[$i]}.${n}.out" | head -n 1) $(grep -ho '^CHURN .*' "$WORK/${NAMES[$i]}.${n}.out" || true)"
    wait_idle
  done
done

# --- Cold requests -----------------------------------------------------------------
# One request at a time, no load, each right after the catalog version was
# dropped from the benchmark's Redis db (opply/catalog/cache.py: VERSION_KEY),
# so that nothing of it (page, count) is cached: the database path alone, with
# every worker warm. Median of UNCACHED_SAMPLES per request. "deep" is the
# page at 90 % of the default list (page 45,000 of a million products), or
# the cursor that starts there where the API has cursors.
VERSION_KEY="catalog:version"
DEEP_PATH="$("$PY" -m bench.catalog.urls deep --offset $(((LISTED * 9 / 10) / 20 * 20)))"
declare -a COLD_NAMES=(first-page deep search category-ordering price-range)
declare -a COLD_PATHS=(
  /api/catalog/products/
  "$DEEP_PATH"
  "/api/catalog/products/?search=${COLD_SEARCH:-smoked}"
  "/api/catalog/products/?category=coffee&ordering=-price"
  "/api/catalog/products/?min_price=10&max_price=12"
)
declare -A UNCACHED_MS=()
drop_catalog_version() {
  "$PY" -c 'import os, sys, redis; print(redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=3).delete(sys.argv[1]))' "$VERSION_KEY"
}
for i in "${!COLD_NAMES[@]}"; do
  samples=()
  for ((k = 1; k <= UNCACHED_SAMPLES; k++)); do
    drop_catalog_version >/dev/null
    read -r status seconds < <(curl -sS --max-time 30 -o "$WORK/cold.json" -w '%{http_code} %{time_total}\n' -H "$AUTH_HEADER" "${BASE_URL}${COLD_PATHS[$i]}")
    [[ "$status" == 200 ]] || die "${COLD_NAMES[$i]}: cold GET ${COLD_PATHS[$i]} answered $status, not 200: $(head -c 300 "$WORK/cold.json")"
    samples+=("$seconds")
  done
  UNCACHED_MS[${COLD_NAMES[$i]}]="$("$PY" -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[1:])) * 1000:.1f}")' "${samples[@]}")"
done
log "cold requests: $(for n in "${COLD_NAMES[@]}"; do printf '%s %s ms; ' "$n" "${UNCACHED_MS[$n]}"; done)"

# Free the CPU (and the port) before summarising.
stop_process "$GUNICORN_PID" 25
GUNICORN_PID=""

# --- Report -----------------------------------------------------------------------------
# Our processes (this script, gunicorn's master) and their children are the
# benchmark; any other process using CPU during a run is interference.
args=(--raw-dir "$WORK" --out "$RESULT_JSON" --repeat "$REPEAT" --own-pid "$$" --own-pid "$GUNICORN_MASTER_PID")
for i in "${!NAMES[@]}"; do
  args+=(--scenario "${NAMES[$i]}=${PATHS[$i]}")
done
for i in "${!COLD_NAMES[@]}"; do
  args+=(--cold "${COLD_NAMES[$i]}=${COLD_PATHS[$i]}=${UNCACHED_MS[${COLD_NAMES[$i]}]}")
done
GIT_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
GIT_DIRTY="$([[ -n "$(git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo yes || echo no)"
args+=(
  --meta "timestamp=${STAMP}" --meta "git_commit=${GIT_COMMIT}" --meta "git_dirty=${GIT_DIRTY}"
  --meta "products=${EXISTING}" --meta "listed=${LISTED}" --meta "deep_page=${DEEP_PAGE}"
  --meta "filtered_count=${FILTERED_COUNT}" --meta "workers=${WORKERS}" --meta "gunicorn_max_requests=${MAX_REQUESTS}"
  --meta "wrk_threads=${WRK_THREADS}" --meta "connections=${CONNECTIONS}" --meta "duration_s=${DURATION}"
  --meta "warmup_s=${WARMUP}" --meta "repeat=${REPEAT}" --meta "cpus=$(nproc)"
  --meta "wall_s=$((SECONDS - STARTED))"
)
"$PY" -m bench.catalog.summarise "${args[@]}"
log "done in $((SECONDS - STARTED)) s (gunicorn log: ${GUNICORN_LOG#"$ROOT"/})"
