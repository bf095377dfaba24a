#!/usr/bin/env bash
# The dashboard from a real run: gunicorn + a Celery worker (with beat) +
# Prometheus (Debian's, installed with scripts/ensure-promtool.sh) on this
# machine, a bounded mixed load (bench/observability/load.py), then the
# provisioned dashboard drawn from Prometheus's data
# (deploy/observability/render_dashboard.py) into docs/images/dashboard.png.
#
#   bash bench/observability/run.sh
#
# Uses the developer's database and Redis (DATABASE_URL, REDIS_URL from the
# environment or .env), migrated and seeded (make seed). Loopback only; every
# process it starts is stopped on exit. Knobs: PORT (gunicorn, 16301),
# WORKER_METRICS_PORT (16305), PROMETHEUS_PORT (16390), LOAD_SECONDS (480),
# CUSTOMERS (8), OUT (docs/images/dashboard.png).
#
# Halfway through, it makes the availability store drift on purpose (a
# reserved counter three units off) and repairs it later with
# `manage.py inventory_reconcile --fix`, so that the drift panel and alert
# show the real periodic reconciliation finding it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/common/lib.sh
source bench/common/lib.sh

PY="$ROOT/.venv/bin/python"
RENDER_PY="$ROOT/.venv-render/bin/python"
PORT="${PORT:-16301}"
WORKER_METRICS_PORT="${WORKER_METRICS_PORT:-16305}"
PROMETHEUS_PORT="${PROMETHEUS_PORT:-16390}"
LOAD_SECONDS="${LOAD_SECONDS:-480}"
CUSTOMERS="${CUSTOMERS:-8}"
OUT="${OUT:-$ROOT/docs/images/dashboard.png}"
for knob in PORT WORKER_METRICS_PORT PROMETHEUS_PORT LOAD_SECONDS CUSTOMERS; do
  require_positive_int "$knob" "${!knob}"
done
[[ -x "$PY" ]] || die ".venv is missing: run 'make install' first"
if [[ ! -x "$RENDER_PY" ]]; then
  python3.11 -m venv "$ROOT/.venv-render"
  "$RENDER_PY" -m pip install --quiet -r requirements/render.txt
fi
scripts/ensure-promtool.sh >/dev/null
port_is_free "$PORT" || die "something already answers on port $PORT"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_process "$pid" 20; done
  rm -rf "$WORK"
}
trap cleanup EXIT
# Sleeps in the background: a signal then stops the run at once, not after the sleep.
pause() { sleep "$1" & wait "$!"; }
trap 'exit 130' INT
trap 'exit 143' TERM

export DJANGO_SETTINGS_MODULE=config.settings.local DJANGO_LOG_LEVEL=WARNING
# Short carts, a frequent sweeper and a frequent drift check: a few minutes show it all.
export CART_TTL_SECONDS=30 CART_SWEEP_SECONDS=5 INVENTORY_DRIFT_CHECK_SECONDS=60
export THROTTLE_RATE_USER=100000/min THROTTLE_RATE_ANON=100000/min

log "database: migrate and seed"
"$PY" manage.py migrate --noinput --verbosity 0
"$PY" manage.py seed >/dev/null

log "gunicorn on 127.0.0.1:$PORT"
HOST="$BENCH_HOST" PORT="$PORT" WEB_CONCURRENCY=3 GUNICORN_ACCESSLOG=/dev/null \
  "$ROOT/.venv/bin/gunicorn" -c config/gunicorn.py config.wsgi >"$WORK/gunicorn.log" 2>&1 &
PIDS+=("$!")
wait_for_url "http://$BENCH_HOST:$PORT/health/live/" 60 "${PIDS[-1]}" || die "gunicorn did not start: $(tail -n 20 "$WORK/gunicorn.log")"

log "Celery worker (with beat), metrics on 127.0.0.1:$WORKER_METRICS_PORT"
CELERY_METRICS_PORT="$WORKER_METRICS_PORT" CELERY_METRICS_ADDR="$BENCH_HOST" \
  "$ROOT/.venv/bin/celery" -A config worker --beat --loglevel WARNING --concurrency 2 \
  --hostname "observability-$$@%h" --schedule "$WORK/beat-schedule" >"$WORK/worker.log" 2>&1 &
PIDS+=("$!")
wait_for_url "http://$BENCH_HOST:$WORKER_METRICS_PORT/metrics" 60 "${PIDS[-1]}" || die "the worker did not start: $(tail -n 20 "$WORK/worker.log")"

log "Prometheus on 127.0.0.1:$PROMETHEUS_PORT (scrapes every 5 s, the repository's alert rules)"
cat >"$WORK/prometheus.yml" <<EOT
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: ["$ROOT/deploy/observability/prometheus/alerts.yml"]
scrape_configs:
  - {job_name: api, static_configs: [{targets: ["$BENCH_HOST:$PORT"]}]}
  - {job_name: worker, static_configs: [{targets: ["$BENCH_HOST:$WORKER_METRICS_PORT"]}]}
EOT
promtool check config "$WORK/prometheus.yml" >/dev/null
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="$BENCH_HOST:$PROMETHEUS_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=("$!")
wait_for_url "http://$BENCH_HOST:$PROMETHEUS_PORT/-/ready" 60 "${PIDS[-1]}" || die "Prometheus did not start: $(tail -n 20 "$WORK/prometheus.log")"

STARTED=$SECONDS
log "load: $CUSTOMERS customers and a restocking staff member for $LOAD_SECONDS s"
"$PY" -m bench.observability.load --base "http://$BENCH_HOST:$PORT" --seconds "$LOAD_SECONDS" --customers "$CUSTOMERS" >"$WORK/load.out" 2>&1 &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
pause $((LOAD_SECONDS * 2 / 5))
log "drift on purpose: one product's reserved counter three units off"
"$PY" manage.py shell -c '
from opply.catalog import inventory
from opply.catalog.models import Stock
pid = Stock.objects.order_by("product_id").values_list("product_id", flat=True).first()
state = inventory.stored_state([pid])[pid]
inventory.set_reserved(pid, (state[2] if state else 0) + 3)
print("product", pid)'
pause $((LOAD_SECONDS * 3 / 10))
log "repair: manage.py inventory_reconcile --fix"
"$PY" manage.py inventory_reconcile --fix | tail -n 1
wait "$LOAD_PID" || die "the load failed: $(tail -n 20 "$WORK/load.out")"
log "load done: $(tail -n 1 "$WORK/load.out")"
pause 20 # a few more scrapes

curl -s "http://$BENCH_HOST:$PROMETHEUS_PORT/api/v1/alerts" >"$WORK/alerts.json"
log "alerts now: $("$PY" -c 'import json,sys; print([(a["labels"]["alertname"], a["state"]) for a in json.load(open(sys.argv[1]))["data"]["alerts"]] or "none")' "$WORK/alerts.json")"
"$RENDER_PY" deploy/observability/render_dashboard.py --prometheus "http://$BENCH_HOST:$PROMETHEUS_PORT" \
  --minutes $(((SECONDS - STARTED) / 60 + 1)) --out "$OUT"
