# Shared helpers for the benchmarks under bench/: sourced, never executed.
# The caller sets `set -euo pipefail`; nothing here changes shell options.

# Everything a benchmark touches lives on the loopback interface: the server
# binds here and every URL is built from it, never from user input.
BENCH_HOST="127.0.0.1"

log() {
  printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die() {
  printf '[bench] ERROR: %s\n' "$*" >&2
  exit 1
}

# require_positive_int NAME VALUE: knobs come from the environment, so a typo
# must stop the run before anything starts rather than produce a silent 0.
require_positive_int() {
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive whole number, got '$2'"
}

# wrk is the load generator: install it from the distribution if missing, and
# refresh the package index only when the first attempt fails (it is slow).
ensure_wrk() {
  command -v wrk >/dev/null && return 0
  log "wrk not found: installing it with apt-get"
  command -v apt-get >/dev/null || die "wrk is missing and apt-get is unavailable: install wrk by hand"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null
  fi
  command -v wrk >/dev/null || die "could not install wrk"
}

# port_is_free PORT: succeed when nothing answers on the loopback port, so the
# benchmark never measures (or disturbs) a server someone else started.
port_is_free() {
  ! curl -s -o /dev/null --max-time 2 "http://${BENCH_HOST}:$1/" 2>/dev/null
}

# wait_for_url URL SECONDS PID: poll until URL answers 200, giving up after
# SECONDS or as soon as process PID (the server) has died.
wait_for_url() {
  local url="$1" seconds="$2" pid="$3" deadline
  deadline=$((SECONDS + seconds))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null || true)" == "200" ]] && return 0
    sleep 0.25
  done
  return 1
}

# stop_process PID [SECONDS]: TERM, give it time to shut down gracefully,
# then KILL. Only ever called with the id of a process this script started.
stop_process() {
  local pid="$1" grace="${2:-15}" deadline
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# The benchmarks' own data: a database and a Redis db that nothing else uses
# (the catalog benchmark flushes that Redis db when it starts). Override them
# to keep, say, a 1,000,000-product database next to the default one:
# BENCH_DATABASE=opply_bench_1m BENCH_REDIS_DB=9.
BENCH_DATABASE="${BENCH_DATABASE:-opply_bench}"
BENCH_REDIS_DB="${BENCH_REDIS_DB:-13}"

# check_bench_data: refuse names that hold someone's real data (development's
# database and Redis db 0, the test suite's db 15) or that are not plain names.
check_bench_data() {
  [[ "$BENCH_DATABASE" =~ ^[a-z_][a-z0-9_]*$ ]] || die "BENCH_DATABASE must be a plain lower-case name, got '$BENCH_DATABASE'"
  [[ "$BENCH_DATABASE" != opply ]] || die "BENCH_DATABASE must not be 'opply' (development data)"
  [[ "$BENCH_REDIS_DB" =~ ^[0-9]+$ ]] || die "BENCH_REDIS_DB must be a Redis db number, got '$BENCH_REDIS_DB'"
  ((BENCH_REDIS_DB != 0 && BENCH_REDIS_DB != 15)) || die "BENCH_REDIS_DB must not be 0 (development) or 15 (tests)"
}

# export_bench_environment PY: the environment of every manage.py command and
# of the server. Everything is set explicitly, even values equal to the
# defaults: the settings read a developer's .env for whatever the real
# environment leaves unset (a DATABASE_REPLICA_URL there would send reads
# elsewhere). Production settings, the benchmarks' own database
# (BENCH_DATABASE) and Redis db (BENCH_REDIS_DB).
export_bench_environment() {
  local py="$1"
  check_bench_data
  export DJANGO_SETTINGS_MODULE=config.settings.production
  export DATABASE_URL="postgres://postgres@${BENCH_HOST}:5432/${BENCH_DATABASE}"
  export DATABASE_REPLICA_URL="$DATABASE_URL"
  export DATABASE_CONN_MAX_AGE=60
  export REDIS_URL="redis://${BENCH_HOST}:6379/${BENCH_REDIS_DB}"
  # A fresh, throwaway signing key per run: tokens never outlive the benchmark.
  DJANGO_SECRET_KEY="$("$py" -c 'import secrets; print(secrets.token_urlsafe(64))')"
  export DJANGO_SECRET_KEY
  export DJANGO_DEBUG=false
  export DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost"
  # Plain HTTP on loopback: the HTTPS redirect would turn every answer into a 301.
  export DJANGO_SECURE_SSL_REDIRECT=false
  export DJANGO_LOG_LEVEL=WARNING
  export DJANGO_NUM_PROXIES=0
  # Throttling would cap the throughput being measured: effectively unlimited.
  export THROTTLE_RATE_USER=100000000/min
  export THROTTLE_RATE_ANON=100000000/min
  export JWT_ACCESS_MINUTES=120
}
