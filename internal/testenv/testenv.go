// Package testenv finds the real services (PostgreSQL, Vault, Chromium) that
// tests use. Their addresses come from the environment; .ci/test.sh starts
// them and exports the variables. Outside CI a test without its service is
// skipped with a message; with CI=true a missing service fails the test, so
// a suite can never pass in CI by skipping itself.
package testenv

import (
	"os"
	"testing"
)

// Names of the variables that locate the services.
const (
	Postgres  = "CEDULA_TEST_POSTGRES"   // postgres://… URL of a server where tests may create databases
	VaultAddr = "CEDULA_TEST_VAULT_ADDR" // http://127.0.0.1:PORT of a Vault dev server with transit enabled
	VaultTok  = "CEDULA_TEST_VAULT_TOKEN"
	Chromium  = "CEDULA_TEST_CHROMIUM" // path of a Chromium binary
	Node      = "CEDULA_TEST_NODE_DIR" // folder with node_modules for the interop tests
)

// InCI reports whether the tests run in CI, where every service is required.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require returns the value of the environment variable name. When it is
// empty the test is skipped, or fails when CI=true.
func Require(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if InCI() {
		t.Fatalf("%s is not set: %s is required when CI=true (.ci/test.sh starts it)", name, what)
	}
	t.Skipf("%s is not set: skipping the %s test (run .ci/test.sh to start it)", name, what)
	return ""
}
