package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
}

func TestLoadFileAndEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("listen: 127.0.0.1:9999\ntokens:\n  access_ttl: 5m\n"), 0o600)
	env := map[string]string{"CEDULA_DB": "postgres://x@127.0.0.1/db"}
	c, err := Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9999" {
		t.Errorf("Listen = %q, want 127.0.0.1:9999", c.Listen)
	}
	if got := c.Tokens.AccessTTL.D().String(); got != "5m0s" {
		t.Errorf("AccessTTL = %s, want 5m0s", got)
	}
	if c.DatabaseURL() != "postgres://x@127.0.0.1/db" {
		t.Errorf("DatabaseURL = %q, want the env value", c.DatabaseURL())
	}
	if c.Tokens.RefreshTTL != Default().Tokens.RefreshTTL {
		t.Errorf("RefreshTTL = %v, want the default kept", c.Tokens.RefreshTTL)
	}
}

func TestLoadEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, nil, 0o600)
	if _, err := Load(path, func(string) string { return "" }); err != nil {
		t.Fatalf("empty file: got %v, want nil", err)
	}
}

func TestUnknownFieldRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("listen: 127.0.0.1:1\nlisten_adress: x\n"), 0o600)
	_, err := Load(path, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "listen_adress") {
		t.Fatalf("got %v, want an error naming listen_adress", err)
	}
}

func TestBadDurationNamesLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("session_ttl: forever\n"), 0o600)
	_, err := Load(path, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("got %v, want an error naming line 1", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Listen = "nope"
	c.PublicURL = "http://example.org/"
	c.Keys = "hsm://x"
	c.LogLevel = "loud"
	c.Tokens.AccessTTL = 0
	c.Clients = []Client{{ID: "a", AuthMethod: "private_key_jwt"}, {ID: "a"}}
	c.RateLimits.MobilePerCitizen = -1
	err := c.Validate()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("Validate() = %v, want *Error", err)
	}
	for _, want := range []string{"listen:", "public_url:", "keys:", "log_level:", "tokens.access_ttl", "jwks_file", "declared twice", "rate_limits.mobile_per_citizen"} {
		found := false
		for _, p := range e.Problems {
			if strings.Contains(p, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("problems %q: want one mentioning %q", e.Problems, want)
		}
	}
}

func TestRPIDFromPublicURL(t *testing.T) {
	c := Default()
	c.PublicURL = "https://id.example.gob:8443"
	if got := c.RPID(); got != "id.example.gob" {
		t.Errorf("RPID() = %q, want id.example.gob", got)
	}
	if !c.Secure() {
		t.Errorf("Secure() = false, want true for https")
	}
}

// TestAdminListen: the admin listener (metrics, pprof, probes) is on
// loopback by default; the file, the environment or "off" move or disable
// it; an address that is not host:port is a problem; only an address
// outside loopback is reported as exposed.
func TestAdminListen(t *testing.T) {
	if got := Default().AdminListen; got != "127.0.0.1:9090" {
		t.Errorf("default admin_listen: got %q, want 127.0.0.1:9090", got)
	}
	for _, tc := range []struct {
		name, file, env string
		want            string
		exposed         bool
		problem         bool
	}{
		{name: "default", want: "127.0.0.1:9090"},
		{name: "file", file: "admin_listen: '[::1]:9191'\n", want: "[::1]:9191"},
		{name: "empty in the file disables it", file: "admin_listen: ''\n", want: ""},
		{name: "environment over the file", file: "admin_listen: 127.0.0.1:1\n", env: "localhost:9292", want: "localhost:9292"},
		{name: "off in the environment disables it", env: "off", want: ""},
		{name: "all interfaces", file: "admin_listen: ':9090'\n", want: ":9090", exposed: true},
		{name: "a public address", env: "10.1.2.3:9090", want: "10.1.2.3:9090", exposed: true},
		{name: "a host name", env: "ops.internal:9090", want: "ops.internal:9090", exposed: true},
		{name: "not host:port", env: "9090", want: "9090", problem: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = filepath.Join(t.TempDir(), "c.yaml")
				os.WriteFile(path, []byte(tc.file), 0o600)
			}
			c, err := Load(path, func(k string) string {
				if k == "CEDULA_ADMIN_LISTEN" {
					return tc.env
				}
				return ""
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.AdminListen != tc.want {
				t.Errorf("AdminListen: got %q, want %q", c.AdminListen, tc.want)
			}
			if got := c.AdminExposed(); got != tc.exposed {
				t.Errorf("AdminExposed(): got %v, want %v", got, tc.exposed)
			}
			err = c.Validate()
			if got := err != nil && strings.Contains(err.Error(), "admin_listen:"); got != tc.problem {
				t.Errorf("Validate(): got %v, want a problem with admin_listen: %v", err, tc.problem)
			}
		})
	}
}
