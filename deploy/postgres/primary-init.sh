#!/usr/bin/env bash
# PostgreSQL primary, first start only. The official postgres image runs the
# scripts in /docker-entrypoint-initdb.d once, on an empty data directory,
# against a temporary server on the local socket (compose.yaml mounts this one).
#
# - the application's role and database: the app is no superuser; it owns its
#   database, so migrations create the per-app schemas and pg_trgm (trusted);
# - a replication role and a physical replication slot for the standby, so the
#   primary keeps the WAL the standby has not received yet (bounded by
#   max_slot_wal_keep_size in compose.yaml, so a standby gone for good never
#   fills the primary's disk);
# - pg_hba: the image allows "host all all all scram-sha-256", and "all" does
#   not cover replication connections, so the standby needs its own line.
#
# deploy/tests/test_postgres_replica.py runs it against a cluster of its own
# (PGHOST, PGPORT and PGDATA from the environment).
set -euo pipefail

: "${OPPLY_DB_PASSWORD:?OPPLY_DB_PASSWORD is required}"
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD is required}"
: "${PGDATA:?PGDATA is required}"
OPPLY_DB_NAME=${OPPLY_DB_NAME:-opply}
OPPLY_DB_USER=${OPPLY_DB_USER:-opply}
REPLICATION_USER=${REPLICATION_USER:-replicator}
REPLICATION_SLOT=${REPLICATION_SLOT:-replica1}

psql --no-psqlrc -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v app_user="$OPPLY_DB_USER" -v app_password="$OPPLY_DB_PASSWORD" -v app_db="$OPPLY_DB_NAME" \
  -v replication_user="$REPLICATION_USER" -v replication_password="$REPLICATION_PASSWORD" \
  -v slot="$REPLICATION_SLOT" <<'SQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"app_db" OWNER :"app_user";
CREATE ROLE :"replication_user" LOGIN REPLICATION PASSWORD :'replication_password';
SELECT pg_create_physical_replication_slot(:'slot');
SQL

echo "host replication ${REPLICATION_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
echo "primary-init: role ${OPPLY_DB_USER}, database ${OPPLY_DB_NAME}, replication role ${REPLICATION_USER}, slot ${REPLICATION_SLOT}"
