#!/usr/bin/env bash
# Install PostgreSQL from Debian packages (idempotent), start a throwaway cluster on
# 127.0.0.1:${PGPORT:-55432}, create database flexmarket_test and print its URL on stdout.
# Usage: export FLEXMARKET_TEST_POSTGRES_URL="$(scripts/ci/start-postgres.sh)"
set -euo pipefail
PGPORT="${PGPORT:-55432}"
PGDATA="${PGDATA_DIR:-/tmp/flexmarket-pg-${PGPORT}}"
DB=flexmarket_test
URL="postgresql://postgres@127.0.0.1:${PGPORT}/${DB}"

log() { echo "start-postgres: $*" >&2; }

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing postgresql from Debian packages"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
fi
BIN="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"

# Run server commands as the postgres user when we are root (initdb refuses root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT"; then
  log "server already running on port $PGPORT"
else
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PGDATA"
    as_pg "'$BIN/initdb' -D '$PGDATA' -U postgres --auth=trust -E UTF8 >/dev/null"
  fi
  as_pg "'$BIN/pg_ctl' -D '$PGDATA' -l '$PGDATA/server.log' -w -t 60 \
    -o \"-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 \
    -c synchronous_commit=off -c max_connections=200\" start" >&2
fi
for _ in $(seq 1 60); do
  "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break
  sleep 0.5
done
if ! "$BIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='${DB}'" | grep -q 1; then
  "$BIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres "$DB"
fi
echo "$URL"
