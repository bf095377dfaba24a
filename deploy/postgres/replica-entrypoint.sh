#!/usr/bin/env bash
# PostgreSQL streaming replica: a hot standby of the primary.
#
# On the first start (an empty data directory) it clones the primary with
# pg_basebackup, through the replication slot, streaming the WAL written
# meanwhile, and writes standby.signal and primary_conninfo (--write-recovery-conf).
# Every start then hands over to the command it is given (compose.yaml: the
# official image's "docker-entrypoint.sh postgres"), which finds an initialised
# data directory, skips initdb, and runs a read-only server that replays the
# primary's WAL as it arrives.
#
# Runs as root in the official image (pg_basebackup then runs as postgres via
# gosu) or as postgres directly (deploy/tests/test_postgres_replica.py).
set -euo pipefail

: "${PRIMARY_HOST:?PRIMARY_HOST is required}"
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD is required}"
PRIMARY_PORT=${PRIMARY_PORT:-5432}
REPLICATION_USER=${REPLICATION_USER:-replicator}
REPLICATION_SLOT=${REPLICATION_SLOT:-replica1}
PGDATA=${PGDATA:-/var/lib/postgresql/data}
BOOTSTRAP_TIMEOUT=${BOOTSTRAP_TIMEOUT:-120}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then gosu postgres "$@"; else "$@"; fi
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGDATA"; fi
  chmod 0700 "$PGDATA"
  export PGPASSWORD="$REPLICATION_PASSWORD"
  deadline=$((SECONDS + BOOTSTRAP_TIMEOUT))
  until as_postgres pg_isready --quiet --host "$PRIMARY_HOST" --port "$PRIMARY_PORT" --username "$REPLICATION_USER"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "replica: the primary ${PRIMARY_HOST}:${PRIMARY_PORT} did not come up in ${BOOTSTRAP_TIMEOUT} s" >&2
      exit 1
    fi
    sleep 1
  done
  echo "replica: cloning ${PRIMARY_HOST}:${PRIMARY_PORT} into ${PGDATA} (slot ${REPLICATION_SLOT})"
  as_postgres pg_basebackup --pgdata "$PGDATA" --host "$PRIMARY_HOST" --port "$PRIMARY_PORT" \
    --username "$REPLICATION_USER" --no-password --slot "$REPLICATION_SLOT" \
    --wal-method stream --checkpoint fast --write-recovery-conf
  unset PGPASSWORD
  echo "replica: cloned; starting as a hot standby"
fi

exec "$@"
