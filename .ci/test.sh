#!/usr/bin/env bash
# One command runs every test, installing what they need:
#
#   .ci/test.sh                          go vet + gofmt check + go test of ./...
#   .ci/test.sh -run TestX ./issuer/...  extra go test flags and packages
#   .ci/test.sh -v -race                 flags only: still ./...
#
# Arguments that look like package patterns (., ./…, ../…, github.com/cedula/…)
# choose the packages to vet and test (default ./...); every other argument is
# passed to `go test` after the defaults -count=1 -timeout 45m, so a -count or
# -timeout given here wins. Give flag values that are paths in the -flag=value
# form (-coverprofile=./c.out), or they count as packages.
#
# It installs PostgreSQL and Chromium with apt-get when missing (root, or
# sudo), builds or reuses the cached Vault binary (~/.cache/cedula), starts a
# throwaway PostgreSQL cluster and a Vault dev server on free loopback ports,
# runs `npm ci` for .ci/node when that folder exists, exports the
# CEDULA_TEST_* variables the tests read (internal/testenv), and stops
# everything it started on exit, whatever the outcome. A CEDULA_TEST_POSTGRES
# or CEDULA_TEST_VAULT_ADDR already set is used as is instead.
#
# Temporary files live under /tmp (kept when CEDULA_TEST_KEEP=1). Works with
# CI=true, where tests fail instead of skipping when a service is missing.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${CEDULA_CACHE:-$HOME/.cache/cedula}
t0=$(date +%s%N)

# log prints a progress line with the time since the start.
log() {
  local now
  now=$(date +%s%N)
  printf '[test.sh %6.1fs] %s\n' "$(((now - t0) / 1000000))e-3" "$*" >&2
}
fail() { log "FAIL: $*"; exit 1; }
# since prints the seconds elapsed since the nanosecond timestamp $1.
since() { local now; now=$(date +%s%N); printf '%.1fs' "$(((now - $1) / 1000000))e-3"; }

# free_port prints a loopback TCP port nobody listens on, below the kernel's
# ephemeral range so outgoing connections do not take it meanwhile.
free_port() {
  local p i
  for i in $(seq 100); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# ---- arguments --------------------------------------------------------------
pkgs=()
flags=()
for a in "$@"; do
  case "$a" in
  . | ./* | ../* | github.com/cedula/*) pkgs+=("$a") ;;
  *) flags+=("$a") ;;
  esac
done
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

# ---- clean-up, whatever happens -------------------------------------------
tmp=$(mktemp -d /tmp/cedula-test.XXXXXX)
# The postgres system user must traverse it to reach its cluster folder.
chmod 0755 "$tmp"
pg_dir=""
vault_dir=""
groups=() # process groups started by spawn, stopped by cleanup

# spawn runs a command in the background in its own session, so that clean-up
# can stop it and everything it starts (go test's test binaries, the Vault
# server start.sh leaves running) as one process group. Sets $spawned.
spawn() {
  setsid "$@" </dev/null &
  spawned=$!
  groups+=("$spawned")
}

# stop_group sends TERM to a process group, then KILL after 5 s.
stop_group() {
  kill -TERM -- "-$1" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 -- "-$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$1" 2>/dev/null || true
}

cleanup() {
  local status=$? g
  trap - EXIT INT TERM
  # start.sh records the server's pid; its process group is the backstop.
  if [ -n "$vault_dir" ] && [ -f "$vault_dir/vault.pid" ]; then
    kill "$(cat "$vault_dir/vault.pid")" 2>/dev/null || true
  fi
  for g in "${groups[@]}"; do stop_group "$g"; done
  [ -z "$vault_dir" ] || log "vault: stopped"
  if [ -n "$pg_dir" ]; then
    "$repo/.ci/pg.sh" stop "$pg_dir" || log "postgres: stop failed (see $pg_dir/server.log)"
    log "postgres: stopped"
  fi
  if [ "${CEDULA_TEST_KEEP:-}" = 1 ]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "packages: ${pkgs[*]}; go test -count=1 -timeout 45m${flags[*]:+ ${flags[*]}}; CI=${CI:-unset}"
command -v go >/dev/null || fail "go is not on PATH (Go 1.26 or newer is needed)"

# ---- system packages --------------------------------------------------------
need=()
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || [ ! -x /usr/bin/chromium ]; then need+=(postgresql chromium); fi
if [ -f "$repo/.ci/node/package.json" ] && ! command -v npm >/dev/null; then need+=(nodejs npm); fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    fail "missing ${need[*]}: run as root or install them (apt-get install -y ${need[*]})"
  fi
  s=$(date +%s%N)
  log "apt: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-o DPkg::Lock::Timeout=600 -q)
  "${sudo[@]}" apt-get "${apt_opts[@]}" update >"$tmp/apt.log" 2>&1 ||
    { tail -n 20 "$tmp/apt.log" >&2; fail "apt-get update"; }
  "${sudo[@]}" apt-get "${apt_opts[@]}" install -y "${need[@]}" >>"$tmp/apt.log" 2>&1 ||
    { tail -n 20 "$tmp/apt.log" >&2; fail "apt-get install"; }
  log "apt: done ($(since "$s"))"
fi

# ---- Vault binary (cold build ~11 min, then cached) --------------------------
if [ -z "${CEDULA_TEST_VAULT_ADDR:-}" ]; then
  s=$(date +%s%N)
  log "vault: build.sh (cached under $cache after the first build)"
  CEDULA_CACHE=$cache spawn "$repo/.ci/vault/build.sh" >"$tmp/vault-bin" 2>"$tmp/vault-build.log"
  build=$spawned
  n=0
  while kill -0 "$build" 2>/dev/null; do
    sleep 0.2
    n=$((n + 1))
    if [ $((n % 300)) = 0 ]; then log "vault: still building ($(since "$s"))"; fi
  done
  wait "$build" || { tail -n 30 "$tmp/vault-build.log" >&2; fail "vault build (log above)"; }
  vault_bin=$(tail -n 1 "$tmp/vault-bin")
  [ -x "$vault_bin" ] || fail "vault build printed no executable path (got '$vault_bin')"
  log "vault: binary $vault_bin ($(since "$s"))"
fi

# ---- PostgreSQL --------------------------------------------------------------
if [ -n "${CEDULA_TEST_POSTGRES:-}" ]; then
  log "postgres: using CEDULA_TEST_POSTGRES from the environment"
else
  s=$(date +%s%N)
  port=$(free_port) || fail "no free port for PostgreSQL"
  pg_dir=$tmp/pg
  "$repo/.ci/pg.sh" start "$pg_dir" "$port" || fail "postgres did not start"
  export CEDULA_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  log "postgres: 127.0.0.1:$port ($(since "$s"))"
fi

# ---- Vault dev server --------------------------------------------------------
if [ -n "${CEDULA_TEST_VAULT_ADDR:-}" ]; then
  log "vault: using CEDULA_TEST_VAULT_ADDR from the environment"
else
  s=$(date +%s%N)
  port=$(free_port) || fail "no free port for Vault"
  vault_dir=$tmp/vault
  mkdir -p "$vault_dir"
  # Output to files, so that a server keeping stdout open cannot hang us.
  PATH=$(dirname "$vault_bin"):$PATH VAULT_BIN=$vault_bin \
    spawn "$repo/.ci/vault/start.sh" "$port" "$vault_dir" >"$tmp/vault-start.out" 2>"$tmp/vault-start.err"
  wait "$spawned" || { cat "$tmp/vault-start.err" >&2; fail "vault did not start"; }
  while IFS= read -r line; do
    case "$line" in
    CEDULA_TEST_VAULT_ADDR=* | CEDULA_TEST_VAULT_TOKEN=*) export "${line?}" ;;
    esac
  done <"$tmp/vault-start.out"
  [ -n "${CEDULA_TEST_VAULT_ADDR:-}" ] || { cat "$tmp/vault-start.err" >&2; fail "vault start.sh printed no CEDULA_TEST_VAULT_ADDR"; }
  log "vault: $CEDULA_TEST_VAULT_ADDR ($(since "$s"))"
fi

# ---- Chromium ------------------------------------------------------------------
if [ -z "${CEDULA_TEST_CHROMIUM:-}" ] && [ -x /usr/bin/chromium ]; then
  export CEDULA_TEST_CHROMIUM=/usr/bin/chromium
fi

# ---- npm packages for the interop tests ------------------------------------------
if [ -f "$repo/.ci/node/package.json" ]; then
  s=$(date +%s%N)
  node_dir=$repo/.ci/node
  # node_modules (git-ignored) is reused while package-lock.json is unchanged.
  lock_sum=$(cat "$node_dir/package.json" "$node_dir/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1)
  stamp=$node_dir/node_modules/.cedula-lock-sha256
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
    log "npm: node_modules up to date"
  else
    (cd "$node_dir" && npm ci --cache "$cache/npm" --prefer-offline --no-audit --no-fund) >"$tmp/npm.log" 2>&1 ||
      { tail -n 30 "$tmp/npm.log" >&2; fail "npm ci in .ci/node"; }
    echo "$lock_sum" >"$stamp"
    log "npm: ci done ($(since "$s"))"
  fi
  export CEDULA_TEST_NODE_DIR=$node_dir
fi

# ---- vet and test -------------------------------------------------------------
cd "$repo"
s=$(date +%s%N)
log "go vet ${pkgs[*]}"
go vet "${pkgs[@]}" || fail "go vet"
log "go vet: ok ($(since "$s"))"
unformatted=$(git ls-files -z '*.go' | xargs -0 -r gofmt -l)
[ -z "$unformatted" ] || fail "gofmt: these files are not formatted: $unformatted"

s=$(date +%s%N)
log "go test ${pkgs[*]}"
status=0
# In the background so that INT/TERM reach the trap at once, not after the
# tests finish; cleanup then stops the tests too.
spawn go test -count=1 -timeout 45m "${flags[@]}" "${pkgs[@]}"
wait "$spawned" || status=$?
if [ "$status" = 0 ]; then log "go test: ok ($(since "$s"))"; else log "go test: FAILED, exit $status ($(since "$s"))"; fi
exit "$status"
