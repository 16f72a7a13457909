package vaultkeys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/keystest"
	"github.com/cedula/cedula/internal/testenv"
)

// vaultEnv returns the test Vault's address and a root client, or skips
// (fails in CI) when none is configured.
func vaultEnv(t *testing.T) (string, string, *api.Client) {
	t.Helper()
	addr := testenv.Require(t, testenv.VaultAddr, "Vault")
	tok := testenv.Require(t, testenv.VaultTok, "Vault")
	vc := api.DefaultConfig()
	vc.Address = addr
	c, err := api.NewClient(vc)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	return addr, tok, c
}

func randomPrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "cedulatest-" + hex.EncodeToString(b) + "-"
}

// deleteKeys removes the transit keys a test made under prefix.
func deleteKeys(t *testing.T, root *api.Client, prefix string) {
	t.Helper()
	s, err := root.Logical().List("transit/keys")
	if err != nil || s == nil {
		return
	}
	names, _ := s.Data["keys"].([]any)
	for _, n := range names {
		name, _ := n.(string)
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if _, err := root.Logical().Write("transit/keys/"+name+"/config", map[string]any{"deletion_allowed": true}); err != nil {
			t.Logf("cleanup %s: %v", name, err)
			continue
		}
		if _, err := root.Logical().Delete("transit/keys/" + name); err != nil {
			t.Logf("cleanup %s: %v", name, err)
		}
	}
}

func TestManager(t *testing.T) {
	addr, tok, root := vaultEnv(t)
	keystest.RunManagerTests(t, func(t *testing.T) keys.Manager {
		prefix := randomPrefix(t)
		t.Cleanup(func() { deleteKeys(t, root, prefix) })
		m, err := Open(context.Background(), Config{
			Address:       addr,
			Token:         tok,
			Prefix:        prefix,
			Retention:     keystest.Retention,
			RingRetention: map[string]time.Duration{keystest.LongRing: keystest.LongRetention},
			Now:           keystest.Clock(t).Now,
		})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return m
	})
}

// TestTwoManagersConverge: a rotation through one Manager reaches another
// (another replica) within the refresh interval.
func TestTwoManagersConverge(t *testing.T) {
	addr, tok, root := vaultEnv(t)
	ctx := context.Background()
	prefix := randomPrefix(t)
	t.Cleanup(func() { deleteKeys(t, root, prefix) })
	open := func() *Manager {
		m, err := Open(ctx, Config{Address: addr, Token: tok, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m1, m2 := open(), open()
	k1, err := m1.Active(ctx, "oidc", keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m2.Active(ctx, "oidc", keys.ES256); err != nil || got.ID() != k1.ID() {
		t.Fatalf("second manager: got %v, %v; want kid %q", got, err, k1.ID())
	}
	k2, err := m1.Rotate(ctx, "oidc", keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if k2.ID() != "oidc-v2" {
		t.Errorf("kid after rotation: got %q, want %q", k2.ID(), "oidc-v2")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := m2.Active(ctx, "oidc", keys.ES256)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID() == k2.ID() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second manager still returns %q five seconds after rotation to %q", got.ID(), k2.ID())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestForeignKeyType: a transit key of a type Cedula does not sign with is
// reported, not used.
func TestForeignKeyType(t *testing.T) {
	addr, tok, root := vaultEnv(t)
	prefix := randomPrefix(t)
	t.Cleanup(func() { deleteKeys(t, root, prefix) })
	if _, err := root.Logical().Write("transit/keys/"+prefix+"aes", map[string]any{"type": "aes256-gcm96"}); err != nil {
		t.Fatal(err)
	}
	m, err := Open(context.Background(), Config{Address: addr, Token: tok, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Active(context.Background(), "aes", keys.ES256); !errors.Is(err, keys.ErrUnsupportedAlg) {
		t.Errorf("Active on an aes256-gcm96 key: got %v, want ErrUnsupportedAlg", err)
	}
}

// TestAppRole logs in with AppRole under a policy limited to the prefix,
// signs, then survives the revocation of its token by logging in again.
func TestAppRole(t *testing.T) {
	addr, _, root := vaultEnv(t)
	ctx := context.Background()
	prefix := randomPrefix(t)
	t.Cleanup(func() { deleteKeys(t, root, prefix) })
	role := strings.TrimSuffix(prefix, "-")

	if err := root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil && !strings.Contains(err.Error(), "path is already in use") {
		t.Fatalf("enable approle: %v", err)
	}
	policy := `
path "transit/keys/` + prefix + `*" { capabilities = ["create", "read", "update"] }
path "transit/keys"                  { capabilities = ["list"] }
path "transit/sign/` + prefix + `*" { capabilities = ["update"] }`
	if err := root.Sys().PutPolicy(role, policy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Sys().DeletePolicy(role) })
	if _, err := root.Logical().Write("auth/approle/role/"+role, map[string]any{"token_policies": role, "token_ttl": "10m"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Logical().Delete("auth/approle/role/" + role) })
	s, err := root.Logical().Read("auth/approle/role/" + role + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	roleID, _ := s.Data["role_id"].(string)
	s, err = root.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	secretID, _ := s.Data["secret_id"].(string)

	t.Run("wrong secret", func(t *testing.T) {
		_, err := Open(ctx, Config{Address: addr, RoleID: roleID, SecretID: "not-" + secretID})
		if err == nil || errors.Is(err, keys.ErrUnavailable) {
			t.Errorf("Open with a wrong secret_id: got %v, want a login error that is not ErrUnavailable", err)
		}
		if err != nil && strings.Contains(err.Error(), secretID) {
			t.Errorf("error %q contains the secret_id", err)
		}
	})

	m, err := Open(ctx, Config{Address: addr, RoleID: roleID, SecretID: secretID, Prefix: prefix})
	if err != nil {
		t.Fatalf("Open with AppRole: %v", err)
	}
	k, err := m.Active(ctx, "oidc", keys.EdDSA)
	if err != nil {
		t.Fatalf("Active: %v", err)
	}
	sign := func() {
		t.Helper()
		tok, err := jose.Sign(ctx, k, []byte(`{"approle":true}`), nil)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		pubs, err := m.Verification(ctx, "oidc")
		if err != nil {
			t.Fatal(err)
		}
		jwks, err := jose.JWKS(pubs...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jose.Verify([]byte(tok), jwks); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	sign()
	if err := root.Auth().Token().RevokeTree(m.client.Token()); err != nil {
		t.Fatal(err)
	}
	before := m.client.Token()
	sign()
	if m.client.Token() == before {
		t.Errorf("token unchanged after revocation: no new login happened")
	}
	// The policy confines the role to its prefix.
	if _, err := m.client.Logical().Write("transit/keys/not-"+prefix+"x", map[string]any{"type": "ed25519"}); err == nil {
		t.Errorf("the AppRole token created a key outside its prefix; the policy in doc.go is too wide")
	}
}

func TestBadToken(t *testing.T) {
	addr, _, _ := vaultEnv(t)
	const secret = "hvs.this-is-not-a-valid-token"
	_, err := Open(context.Background(), Config{Address: addr, Token: secret})
	if err == nil {
		t.Fatal("Open with an invalid token: got nil error")
	}
	if errors.Is(err, keys.ErrUnavailable) {
		t.Errorf("invalid token reported as ErrUnavailable: %v", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q contains the token", err)
	}
}

func TestOpenProblems(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no credentials", Config{Address: "http://127.0.0.1:1"}, []string{"no credentials"}},
		{"role without secret", Config{Address: "http://127.0.0.1:1", RoleID: "r"}, []string{"without secret_id"}},
		{"all at once", Config{Address: "http://127.0.0.1:1", Retention: -time.Hour}, []string{"negative retention", "no credentials"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), tc.cfg)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Open: got %v, want an error mentioning %q", err, w)
				}
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	t.Setenv("VAULT_MAX_RETRIES", "0")
	_, err := Open(context.Background(), Config{Address: "http://127.0.0.1:1", Token: "x"})
	if !errors.Is(err, keys.ErrUnavailable) {
		t.Errorf("Open against a closed port: got %v, want ErrUnavailable", err)
	}
}

// fakeVault is an httptest stand-in for the error paths a real Vault will
// not produce on demand.
type fakeVault struct {
	keyJSON []byte
	sign    atomic.Value // func(w http.ResponseWriter)
	down    atomic.Bool
}

func newFakeVault(t *testing.T) (*fakeVault, *httptest.Server) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(priv.Public())
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	body, _ := json.Marshal(map[string]any{"data": map[string]any{
		"type": "ecdsa-p256", "latest_version": 1,
		"keys": map[string]any{"1": map[string]any{"public_key": pemKey, "creation_time": time.Now().UTC().Format(time.RFC3339Nano)}},
	}})
	fv := &fakeVault{keyJSON: body}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fv.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"errors":["Vault is sealed"]}`))
			return
		}
		switch {
		case r.URL.Path == "/v1/auth/token/lookup-self":
			w.Write([]byte(`{"data":{"id":"x"}}`))
		case r.URL.Path == "/v1/transit/keys/cedula-oidc":
			w.Write(fv.keyJSON)
		case r.URL.Path == "/v1/transit/sign/cedula-oidc":
			fv.sign.Load().(func(http.ResponseWriter))(w)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return fv, srv
}

func TestErrorPaths(t *testing.T) {
	t.Setenv("VAULT_MAX_RETRIES", "0")
	ctx := context.Background()
	fv, srv := newFakeVault(t)
	m, err := Open(ctx, Config{Address: srv.URL, Token: "t", Refresh: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	k, err := m.Active(ctx, "oidc", keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	digest := make([]byte, 32)

	fv.sign.Store(func(w http.ResponseWriter) {
		w.Write([]byte(`{"data":{"signature":"vault:v2:MEUCIQ==","key_version":2}}`))
	})
	if _, err := k.Sign(ctx, digest, cryptoSHA256); err == nil || !strings.Contains(err.Error(), "want v1") {
		t.Errorf("signature of another version: got %v, want an error naming v1", err)
	}
	fv.sign.Store(func(w http.ResponseWriter) { w.Write([]byte(`{"data":{"signature":"vault:v1:!!"}}`)) })
	if _, err := k.Sign(ctx, digest, cryptoSHA256); err == nil {
		t.Errorf("malformed signature: got nil error")
	}
	fv.sign.Store(func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"errors":["bad input"]}`))
	})
	if _, err := k.Sign(ctx, digest, cryptoSHA256); err == nil || errors.Is(err, keys.ErrUnavailable) {
		t.Errorf("400 from Vault: got %v, want an error that is not ErrUnavailable", err)
	}

	// Sealed Vault: signing is unavailable; the last known keys stay published.
	before, err := m.Verification(ctx, "oidc")
	if err != nil || len(before) != 1 {
		t.Fatalf("Verification: got %d keys, %v; want 1", len(before), err)
	}
	fv.down.Store(true)
	if _, err := k.Sign(ctx, digest, cryptoSHA256); !errors.Is(err, keys.ErrUnavailable) {
		t.Errorf("Sign while sealed: got %v, want ErrUnavailable", err)
	}
	got, err := m.Verification(ctx, "oidc")
	if err != nil || len(got) != 1 || got[0].ID != before[0].ID {
		t.Errorf("Verification while sealed: got %v, %v; want the cached key %s", got, err, before[0].ID)
	}
	if _, err := m.Active(ctx, "oidc", keys.ES256); !errors.Is(err, keys.ErrUnavailable) {
		t.Errorf("Active while sealed: got %v, want ErrUnavailable", err)
	}
}

func TestParseSignature(t *testing.T) {
	tests := []struct {
		in      string
		version int
		want    string // hex, "" for an error
	}{
		{"vault:v1:AQID", 1, "010203"},
		{"vault:v12:AQID", 12, "010203"},
		{"vault:v1:AQID", 2, ""},
		{"vault:v12:AQID", 1, ""},
		{"vault:v1:", 1, ""},
		{"vault:v1:@@", 1, ""},
		{"AQID", 1, ""},
		{"", 1, ""},
	}
	for _, tc := range tests {
		got, err := parseSignature(tc.in, tc.version)
		if tc.want == "" {
			if err == nil {
				t.Errorf("parseSignature(%q, %d): got %x, want an error", tc.in, tc.version, got)
			}
			continue
		}
		if err != nil || hex.EncodeToString(got) != tc.want {
			t.Errorf("parseSignature(%q, %d): got %x, %v; want %s", tc.in, tc.version, got, err, tc.want)
		}
	}
}

func TestKeyID(t *testing.T) {
	tests := []struct {
		ring    string
		version int
		want    string
	}{
		{"oidc", 1, "oidc-v1"},
		{"oidc-v1", 2, "oidc-v1-v2"},
		{"a", 10, "a-v10"},
	}
	for _, tc := range tests {
		if got := KeyID(tc.ring, tc.version); got != tc.want {
			t.Errorf("KeyID(%q, %d): got %q, want %q", tc.ring, tc.version, got, tc.want)
		}
	}
}

var cryptoSHA256 = crypto.SHA256
