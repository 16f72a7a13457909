#!/usr/bin/env bash
# Usage: .ci/vault/start.sh PORT DIR
#
# Starts a throwaway Vault dev server on 127.0.0.1:PORT for the test suite,
# in the background: log in DIR/vault.log, process id in DIR/vault.pid (stop
# it with: kill "$(cat DIR/vault.pid)"). Waits until it is healthy, enables
# the transit engine at transit/, and prints the two variables the tests
# read, one per line, on stdout (everything else goes to stderr):
#
#   CEDULA_TEST_VAULT_ADDR=http://127.0.0.1:PORT
#   CEDULA_TEST_VAULT_TOKEN=root
#
# The binary comes from build.sh (cached after the first build), or from
# $VAULT_BIN when set. Vault is under the BUSL licence: test use only.
set -euo pipefail
if [ $# -ne 2 ]; then
	echo "usage: $0 PORT DIR" >&2
	exit 2
fi
port=$1
dir=$2
case $port in '' | *[!0-9]*) echo "start.sh: PORT must be a number, got '$port'" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
bin=${VAULT_BIN:-$("$here/build.sh")}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -f "$dir/vault.pid" ] && kill -0 "$(cat "$dir/vault.pid")" 2>/dev/null; then
	echo "start.sh: a Vault started from $dir is still running (pid $(cat "$dir/vault.pid"))" >&2
	exit 1
fi

addr=http://127.0.0.1:$port
# Refuse a busy port: otherwise the health check below would find whatever
# already listens there and the tests would run against it.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
	echo "start.sh: 127.0.0.1:$port is already in use" >&2
	exit 1
fi
# stdin/stdout/stderr detached from the caller, so that $(start.sh …) returns.
"$bin" server -dev -dev-listen-address="127.0.0.1:$port" -dev-root-token-id=root \
	-dev-no-store-token </dev/null >"$dir/vault.log" 2>&1 &
pid=$!
echo "$pid" >"$dir/vault.pid"

export VAULT_ADDR=$addr VAULT_TOKEN=root
for _ in $(seq 1 300); do # up to 30 s; usually healthy in 0.2 s
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "start.sh: Vault exited during start-up; last lines of $dir/vault.log:" >&2
		tail -n 20 "$dir/vault.log" >&2
		rm -f "$dir/vault.pid"
		exit 1
	fi
	# vault status exits 0 once the server is initialised and unsealed.
	if "$bin" status >/dev/null 2>&1; then
		break
	fi
	sleep 0.1
done
if ! "$bin" status >/dev/null 2>&1 || ! kill -0 "$pid" 2>/dev/null; then
	echo "start.sh: Vault at $addr not healthy after 30 s; see $dir/vault.log" >&2
	kill "$pid" 2>/dev/null || true
	rm -f "$dir/vault.pid"
	exit 1
fi
"$bin" secrets enable transit >&2

echo "CEDULA_TEST_VAULT_ADDR=$addr"
echo "CEDULA_TEST_VAULT_TOKEN=root"
