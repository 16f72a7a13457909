#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster for the test suite.
#
#   .ci/pg.sh start DIR PORT   initdb DIR/data (trust auth, superuser "postgres")
#                              and start it on 127.0.0.1:PORT, socket in DIR
#   .ci/pg.sh stop DIR         stop it (fast shutdown); no-op when not running
#
# As root the cluster belongs to the "postgres" system user (initdb refuses to
# run as root), so DIR and every folder above it must be traversable by that
# user. As any other user the cluster belongs to that user. fsync stays on: the
# crash tests rely on acknowledged writes surviving a kill -9.
#
# PG_BIN overrides the folder of initdb/pg_ctl (default: PostgreSQL 15 from
# Debian, else the newest /usr/lib/postgresql/*/bin).
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }

pg_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  if [ -x /usr/lib/postgresql/15/bin/initdb ]; then echo /usr/lib/postgresql/15/bin; return; fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    echo "pg.sh: no PostgreSQL server binaries found (apt-get install postgresql, or set PG_BIN)" >&2
    exit 1
  fi
  echo "$d"
}

# as_owner runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || usage
bin=$(pg_bin)

case "$cmd" in
start)
  port=${3:-}
  [[ "$port" =~ ^[0-9]+$ ]] || usage
  if [ -e "$dir/data" ]; then
    echo "pg.sh: $dir/data already exists; use a fresh folder" >&2
    exit 1
  fi
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "pg.sh: no 'postgres' system user (apt-get install postgresql)" >&2; exit 1; }
    install -d -o postgres -g postgres -m 0700 "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      echo "pg.sh: user postgres cannot write $dir (a parent folder is not traversable?)" >&2
      exit 1
    fi
  else
    mkdir -p "$dir"
    chmod 0700 "$dir"
  fi
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" \
      start >/dev/null; then
    echo "pg.sh: PostgreSQL did not start; its log:" >&2
    tail -n 20 "$dir/server.log" >&2 || true
    exit 1
  fi
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  fi
  ;;
*)
  usage
  ;;
esac
