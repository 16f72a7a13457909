package backend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
	"github.com/cedula/cedula/internal/keys/vaultkeys"
	"github.com/cedula/cedula/internal/testenv"
)

func TestParse(t *testing.T) {
	tests := []struct {
		url, dataDir string
		want         spec
		bad          bool
	}{
		{url: "", dataDir: "/srv/cedula", want: spec{local: true, path: "/srv/cedula/keystore.json"}},
		{url: "local", dataDir: "d", want: spec{local: true, path: "d/keystore.json"}},
		{url: "local", want: spec{local: true, path: localkeys.DefaultPath}},
		{url: "local:/etc/cedula/keys.json", dataDir: "d", want: spec{local: true, path: "/etc/cedula/keys.json"}},
		{url: "vault://127.0.0.1:8200", want: spec{address: "http://127.0.0.1:8200"}},
		{url: "vault://vault:8200/transit-prod", want: spec{address: "http://vault:8200", mount: "transit-prod"}},
		{url: "vault+https://vault.example:8200/ns/transit/", want: spec{address: "https://vault.example:8200", mount: "ns/transit"}},
		{url: "vault:///transit", want: spec{mount: "transit"}},
		{url: "vault://v:8200?prefix=prod-&approle=svc", want: spec{address: "http://v:8200", prefix: "prod-", approle: "svc"}},
		{url: "local:", bad: true},
		{url: "hsm://x", bad: true},
		{url: "https://vault:8200", bad: true},
		{url: "vault://root:hvs.secret@vault:8200", bad: true},
		{url: "vault://v:8200?token=x", bad: true},
		{url: "vault://%zz", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			got, err := parse(tc.url, tc.dataDir)
			if tc.bad {
				if !errors.Is(err, ErrBadURL) {
					t.Errorf("parse: got %+v, %v; want ErrBadURL", got, err)
				}
				if err != nil && strings.Contains(err.Error(), "hvs.secret") {
					t.Errorf("error %q repeats the credential", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parse: got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOpenLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kek := strings.Repeat("ab", 32)
	m, err := Open(ctx, Config{URL: "local", DataDir: dir, Getenv: env(map[string]string{localkeys.EnvKEK: kek})})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, ok := m.(*localkeys.Manager); !ok {
		t.Fatalf("Open(local): got %T, want *localkeys.Manager", m)
	}
	k, err := m.Active(ctx, "oidc", keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keystore.json")); err != nil {
		t.Errorf("keystore not in DataDir: %v", err)
	}
	// The same KEK through the real environment opens it; another does not.
	t.Setenv(localkeys.EnvKEK, kek)
	m2, err := Open(ctx, Config{URL: "local:" + filepath.Join(dir, "keystore.json")})
	if err != nil {
		t.Fatalf("reopen via local:PATH: %v", err)
	}
	if k2, err := m2.Active(ctx, "oidc", keys.ES256); err != nil || k2.ID() != k.ID() {
		t.Errorf("reopened Active: got %v, %v; want kid %q", k2, err, k.ID())
	}
	_, err = Open(ctx, Config{URL: "local", DataDir: dir, Getenv: env(map[string]string{localkeys.EnvKEK: strings.Repeat("cd", 32)})})
	if !errors.Is(err, localkeys.ErrKEK) {
		t.Errorf("Open with another KEK: got %v, want localkeys.ErrKEK", err)
	}
}

func TestOpenVaultConfigErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no address", Config{URL: "vault://", Getenv: env(nil)}, "VAULT_ADDR"},
		{"no credentials", Config{URL: "vault://127.0.0.1:1", Getenv: env(nil)}, "no credentials"},
		{"secret file missing", Config{URL: "vault://127.0.0.1:1", Getenv: env(map[string]string{
			EnvVaultRoleID: "r", EnvVaultSecretIDFile: "/nonexistent/secret-id",
		})}, EnvVaultSecretIDFile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(ctx, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestOpenVault opens the real test Vault through a vault:// URL with the
// token in a file, as an operator would configure it.
func TestOpenVault(t *testing.T) {
	addr := testenv.Require(t, testenv.VaultAddr, "Vault")
	tok := testenv.Require(t, testenv.VaultTok, "Vault")
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "cedulatest-" + hex.EncodeToString(b) + "-"
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(addr, "http://")
	m, err := Open(ctx, Config{URL: "vault://" + host + "/transit?prefix=" + prefix, Getenv: env(map[string]string{EnvVaultTokenFile: tokFile})})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, ok := m.(*vaultkeys.Manager); !ok {
		t.Fatalf("Open(vault://): got %T, want *vaultkeys.Manager", m)
	}
	t.Cleanup(func() {
		vc := api.DefaultConfig()
		vc.Address = addr
		c, err := api.NewClient(vc)
		if err != nil {
			return
		}
		c.SetToken(tok)
		c.Logical().Write("transit/keys/"+prefix+"oidc/config", map[string]any{"deletion_allowed": true})
		c.Logical().Delete("transit/keys/" + prefix + "oidc")
	})
	k, err := m.Active(ctx, "oidc", keys.RS256)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID() != "oidc-v1" {
		t.Errorf("kid: got %q, want oidc-v1", k.ID())
	}
	rings, err := m.Rings(ctx)
	if err != nil || len(rings) != 1 || rings[0] != "oidc" {
		t.Errorf("Rings: got %v, %v; want [oidc] (the prefix from the URL)", rings, err)
	}
}
