#!/usr/bin/env bash
# Project-local PostgreSQL + PostGIS cluster, in .civop/ (or, see cluster_home, in
# /var/lib/civop/<hash of the clone's .civop path>/ when run as root from a folder the cluster
# account cannot enter).
#   scripts/pg.sh ensure   install PostGIS if missing, init, start, create database + extension
#   scripts/pg.sh stop     stop the cluster
#   scripts/pg.sh status   print whether it runs, and where its data and socket are
#   scripts/pg.sh remove   stop the cluster and delete its data (make clean)
#   scripts/pg.sh createdb NAME / dropdb NAME
#   scripts/pg.sh replica-start PORT / replica-stop PORT / replica-drop PORT
#                          a streaming replica of the cluster (pg_basebackup), for the replica tests
# With DATABASE_URL set, nothing is started: that server is used as it is.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CIVOP_DIR="${CIVOP_HOME:-$ROOT/.civop}"
PORT="${CIVOP_PG_PORT:-55432}"
DBNAME="${CIVOP_DB_NAME:-civop}"
DBUSER=civop
PG_MAJOR=15
BIN="/usr/lib/postgresql/$PG_MAJOR/bin"

log() { printf '[civop-db] %s\n' "$*" >&2; }

# The account that owns and runs the cluster: initdb refuses root.
run_user() {
  if [ "$(id -u)" != 0 ]; then id -un; return; fi
  if id postgres >/dev/null 2>&1; then echo postgres; return; fi
  id civop >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin civop
  echo civop
}

as_owner() {
  local user; user="$(run_user)"
  # From /: the cluster account may not be able to enter the folder we run in.
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u "$user" -- "$@"); else "$@"; fi
}

# Where the cluster lives. Normally .civop/ of the clone. As root the cluster runs as another
# account (postgres or civop), which cannot reach .civop/ when the clone sits in a folder only
# root may enter (root's home, a `mktemp -d` folder): then the cluster lives in
# /var/lib/civop/<hash of the .civop path>/, a stable place per clone that only root and the
# cluster account can write. CIVOP_PG_HOME names another place explicitly.
cluster_home() {
  if [ -n "${CIVOP_PG_HOME:-}" ]; then echo "$CIVOP_PG_HOME"; return; fi
  local spare
  spare="/var/lib/civop/$(realpath -m "$CIVOP_DIR" | sha256sum | cut -c1-16)"
  if [ -f "$CIVOP_DIR/pgdata/PG_VERSION" ]; then echo "$CIVOP_DIR"; return; fi
  if [ -f "$spare/pgdata/PG_VERSION" ]; then echo "$spare"; return; fi
  if [ "$(id -u)" != 0 ] || reachable "$(dirname "$(realpath -m "$CIVOP_DIR")")"; then
    echo "$CIVOP_DIR"
  else
    echo "$spare"
  fi
}

# Whether the cluster account can enter a folder (and every folder above it).
reachable() { (cd / && runuser -u "$(run_user)" -- test -x "$1" 2>/dev/null); }

HOME_DIR="$(cluster_home)"
PGDATA="$HOME_DIR/pgdata"
SOCKDIR="$HOME_DIR/run"
# A unix socket path is at most 107 bytes: from a deeply nested clone, the socket goes to a
# folder of this account's (checked below) in /tmp instead.
if [ $((${#SOCKDIR} + 17)) -gt 107 ]; then
  SOCKDIR="/tmp/civop-$(id -u)-$(realpath -m "$HOME_DIR" | sha256sum | cut -c1-16)"
fi

# Make the socket folder, owned by the cluster account; refuse one someone else made.
make_sockdir() {
  local user; user="$(run_user)"
  mkdir -p "$SOCKDIR"
  if [ -L "$SOCKDIR" ] || { [ "$(stat -c %U "$SOCKDIR")" != "$user" ] && [ "$(stat -c %u "$SOCKDIR")" != "$(id -u)" ]; }; then
    log "$SOCKDIR belongs to another account: remove it, or set CIVOP_PG_HOME to a shorter folder"; exit 1
  fi
  [ "$(id -u)" = 0 ] && chown "$user" "$SOCKDIR"
  chmod 755 "$SOCKDIR"
}

where() { echo "data in $PGDATA, socket in $SOCKDIR"; }

psql_local() { PGOPTIONS="--client-min-messages=warning" "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PORT" -U "$DBUSER" "$@"; }

running() { [ -f "$PGDATA/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

init_cluster() {
  [ -f "$PGDATA/PG_VERSION" ] && return
  [ -x "$BIN/initdb" ] || { log "PostgreSQL $PG_MAJOR server binaries not found in $BIN"; exit 1; }
  local user; user="$(run_user)"
  # /var/lib/civop itself: root's, and open to the cluster accounts whatever root's umask.
  case "$HOME_DIR" in /var/lib/civop/*) install -d -m 755 /var/lib/civop ;; esac
  mkdir -p "$PGDATA"
  make_sockdir
  if [ "$(id -u)" = 0 ]; then
    chown -R "$user" "$HOME_DIR"
    reachable "$PGDATA" || {
      log "the $user account, which runs the cluster, cannot enter $PGDATA: let it enter every folder above, or set CIVOP_PG_HOME to a folder it can reach"; exit 1; }
  fi
  chmod 700 "$PGDATA"
  log "initialising cluster in $PGDATA (owner: $user)"
  as_owner "$BIN/initdb" -D "$PGDATA" -U "$DBUSER" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >>"$PGDATA/postgresql.conf" <<CONF
# civop project-local cluster: loopback and the socket folder only
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCKDIR'
max_connections = 200
shared_buffers = 1GB
work_mem = 32MB
maintenance_work_mem = 512MB
effective_cache_size = 8GB
wal_level = replica
max_wal_senders = 5
random_page_cost = 1.1
jit = off
CONF
}

start_cluster() {
  running && return
  make_sockdir
  rm -f "$SOCKDIR/.s.PGSQL.$PORT.lock"
  log "starting PostgreSQL on 127.0.0.1:$PORT (socket in $SOCKDIR)"
  as_owner "$BIN/pg_ctl" -D "$PGDATA" -l "$HOME_DIR/postgres.log" -w -t 60 start >/dev/null
}

create_db() {
  local name="$1"
  if [ -z "$(psql_local -d postgres -tAc "select 1 from pg_database where datname = '$name'")" ]; then
    log "creating database $name"
    psql_local -d postgres -c "create database \"$name\""
  fi
  psql_local -d "$name" -c "create extension if not exists postgis"
}

case "${1:-ensure}" in
  ensure)
    if [ -n "${DATABASE_URL:-}" ]; then log "DATABASE_URL is set: using that server, no local cluster"; exit 0; fi
    "$ROOT/scripts/system.sh"
    log "cluster $(where)"
    init_cluster
    start_cluster
    create_db "$DBNAME"
    ;;
  stop)
    if running; then as_owner "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null; log "stopped"; else log "not running"; fi
    ;;
  status)
    if running; then echo "running on 127.0.0.1:$PORT, $(where)"; else echo "stopped, $(where)"; exit 3; fi
    ;;
  remove)
    if running; then as_owner "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null; fi
    for replica in "$HOME_DIR"/replica-[0-9]*/; do
      [ -f "$replica/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$replica" -m immediate -w stop >/dev/null 2>&1 || true
    done
    rm -rf "$PGDATA" "$HOME_DIR"/replica-* "$HOME_DIR/postgres.log"
    [ "$SOCKDIR" = "$HOME_DIR/run" ] || rm -rf "$SOCKDIR"
    rm -rf "$HOME_DIR/run"
    [ "$HOME_DIR" = "$CIVOP_DIR" ] || rmdir "$HOME_DIR" 2>/dev/null || true
    log "removed the cluster ($(where))"
    ;;
  replica-start)
    # A streaming replica of this cluster on port $2, in replica-$2 beside pgdata (for tests and benchmarks).
    rport="$2"; rdata="$HOME_DIR/replica-$rport"; rsock="$HOME_DIR/replica-run-$rport"
    if [ ! -f "$rdata/PG_VERSION" ]; then
      mkdir -p "$rdata" "$rsock"; [ "$(id -u)" = 0 ] && chown "$(run_user)" "$rdata" "$rsock"
      chmod 700 "$rdata"
      # A database dropped while the backup walks its folder fails the backup ("could not open
      # directory"): other sessions may create and drop databases meanwhile, so try again.
      for attempt in 1 2 3 4 5; do
        if as_owner "$BIN/pg_basebackup" -h "$SOCKDIR" -p "$PORT" -U "$DBUSER" -D "$rdata" -R -X stream -c fast; then
          break
        fi
        [ "$attempt" = 5 ] && { log "pg_basebackup failed 5 times"; exit 1; }
        log "pg_basebackup failed (attempt $attempt); trying again"
        find "$rdata" -mindepth 1 -delete; sleep 2
      done
      cat >>"$rdata/postgresql.conf" <<CONF
port = $rport
unix_socket_directories = '$rsock'
hot_standby = on
shared_buffers = 256MB
CONF
    fi
    as_owner "$BIN/pg_ctl" -D "$rdata" -l "$HOME_DIR/replica-$rport.log" -w -t 120 start >/dev/null || {
      log "the replica did not start; its log ends with:"; tail -n 20 "$HOME_DIR/replica-$rport.log" >&2; exit 1; }
    log "replica running on 127.0.0.1:$rport"
    ;;
  replica-stop)
    rdata="$HOME_DIR/replica-$2"
    as_owner "$BIN/pg_ctl" -D "$rdata" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  replica-drop)
    rdata="$HOME_DIR/replica-$2"
    as_owner "$BIN/pg_ctl" -D "$rdata" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$rdata" "$HOME_DIR/replica-run-$2" "$HOME_DIR/replica-$2.log"
    ;;
  createdb) create_db "$2" ;;
  dropdb) psql_local -d postgres -c "drop database if exists \"$2\" with (force)" ;;
  *) echo "usage: $0 ensure|stop|status|remove|createdb NAME|dropdb NAME|replica-start PORT|replica-stop PORT|replica-drop PORT" >&2; exit 2 ;;
esac
