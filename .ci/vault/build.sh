#!/usr/bin/env bash
# Builds a HashiCorp Vault binary for the test suite and caches it outside the
# repository. Prints the binary's path. A cold build takes ~11 minutes on two
# cores; afterwards the cached binary is reused.
#
# Vault v1.21.4 does not compile against any published vault/sdk. This script
# copies sdk v0.21.0 from the module cache and applies the two differences the
# Vault code expects (ActivationFunc with two arguments; keysutil's lock
# manager as in sdk v0.25.1).
set -euo pipefail
VAULT_VERSION=v1.21.4
here=$(cd "$(dirname "$0")" && pwd)
cache=${CEDULA_CACHE:-$HOME/.cache/cedula}
bin=$cache/vault-$VAULT_VERSION/vault
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$(dirname "$bin")"
work=$cache/vault-build
rm -rf "$work"; mkdir -p "$work"
cp "$here/main.go" "$here/go.mod" "$work/"
cd "$work"
sdk021=$(go mod download -json github.com/hashicorp/vault/sdk@v0.21.0 | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
sdk025=$(go mod download -json github.com/hashicorp/vault/sdk@v0.25.1 | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
cp -r "$sdk021" sdk-patched
chmod -R u+w sdk-patched
sed -i 's/ActivationFunc func(context.Context, \*logical.Request, string) error/ActivationFunc func(context.Context, *logical.Request) error/' sdk-patched/framework/backend.go
grep -q 'ActivationFunc func(context.Context, \*logical.Request) error' sdk-patched/framework/backend.go
cp "$sdk025/helper/keysutil/lock_manager.go" sdk-patched/helper/keysutil/lock_manager.go
chmod u+w sdk-patched/helper/keysutil/lock_manager.go
GOFLAGS=-mod=mod go mod tidy >&2
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$bin.tmp" . >&2
mv "$bin.tmp" "$bin"
echo "$bin"
