package vaultkeys

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/dek"
	"github.com/cedula/cedula/internal/keys/keystest"
	"github.com/cedula/cedula/internal/testenv"
)

func TestWrapper(t *testing.T) {
	addr, tok, root := vaultEnv(t)
	keystest.RunWrapperTests(t, func(t *testing.T) func() keys.Wrapper {
		prefix := randomPrefix(t)
		t.Cleanup(func() { deleteKeys(t, root, prefix) })
		return func() keys.Wrapper {
			m, err := Open(context.Background(), Config{Address: addr, Token: tok, Prefix: prefix})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return m
		}
	})
}

// TestWrapIsPlainTransit: the wrapping key is an aes256-gcm96 transit key
// named <prefix><ring>.wrap, the wrapped form is transit ciphertext naming
// its version, and the caller's aad is transit's associated_data — so an
// operator can open a blob with the Vault CLI, and nothing else can.
func TestWrapIsPlainTransit(t *testing.T) {
	addr, tok, root := vaultEnv(t)
	ctx := context.Background()
	prefix := randomPrefix(t)
	t.Cleanup(func() { deleteKeys(t, root, prefix) })
	m, err := Open(ctx, Config{Address: addr, Token: tok, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	k, aad := dek.New(), []byte("subject:p-7")
	b1, err := m.WrapKey(ctx, "audit", k, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b1, []byte("vault:v1:")) {
		t.Errorf("first blob: got %.9q…, want vault:v1:…", b1)
	}
	name := prefix + "audit.wrap"
	s, err := root.Logical().Read("transit/keys/" + name)
	if err != nil || s == nil {
		t.Fatalf("read transit key %s: %v, %v", name, s, err)
	}
	if typ := s.Data["type"]; typ != "aes256-gcm96" {
		t.Errorf("transit key %s: type %v, want aes256-gcm96", name, typ)
	}
	if exp := s.Data["exportable"]; exp != false {
		t.Errorf("transit key %s: exportable %v, want false", name, exp)
	}
	decrypt := func(b []byte, aad []byte) ([]byte, error) {
		req := map[string]any{"ciphertext": string(b)}
		if aad != nil {
			req["associated_data"] = base64.StdEncoding.EncodeToString(aad)
		}
		s, err := root.Logical().Write("transit/decrypt/"+name, req)
		if err != nil {
			return nil, err
		}
		pt, _ := s.Data["plaintext"].(string)
		return base64.StdEncoding.DecodeString(pt)
	}
	if got, err := decrypt(b1, aad); err != nil || !bytes.Equal(got, k) {
		t.Errorf("transit decrypt with associated_data: got %v; want the key back", err)
	}
	if _, err := decrypt(b1, nil); err == nil {
		t.Errorf("transit decrypt without associated_data succeeded: the aad is not bound")
	}

	if err := m.RotateWrapKey(ctx, "audit"); err != nil {
		t.Fatal(err)
	}
	b2, err := m.WrapKey(ctx, "audit", k, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b2, []byte("vault:v2:")) {
		t.Errorf("blob after rotation: got %.9q…, want vault:v2:…", b2)
	}
	// An operator retiring version 1 makes its blobs unopenable: ErrUnwrap.
	if _, err := root.Logical().Write("transit/keys/"+name+"/config", map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatal(err)
	}
	if got, err := m.UnwrapKey(ctx, "audit", b1, aad); !errors.Is(err, keys.ErrUnwrap) || got != nil {
		t.Errorf("blob below min_decryption_version: got %d bytes, %v; want ErrUnwrap", len(got), err)
	}
	if got, err := m.UnwrapKey(ctx, "audit", b2, aad); err != nil || !bytes.Equal(got, k) {
		t.Errorf("blob of version 2: %v", err)
	}
	// The signing side does not see the wrapping key.
	if rings, err := m.Rings(ctx); err != nil || len(rings) != 0 {
		t.Errorf("Rings: got %v, %v; want none", rings, err)
	}
}

// TestWrapUpsertDisabled: on a transit mount that refuses to create keys
// on encryption, WrapKey creates the key itself.
func TestWrapUpsertDisabled(t *testing.T) {
	addr, tok, root := vaultEnv(t)
	ctx := context.Background()
	prefix := randomPrefix(t)
	mount := strings.TrimSuffix(prefix, "-") + "-transit"
	if err := root.Sys().Mount(mount, &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Sys().Unmount(mount) })
	if _, err := root.Logical().Write(mount+"/config/keys", map[string]any{"disable_upsert": true}); err != nil {
		t.Fatal(err)
	}
	m, err := Open(ctx, Config{Address: addr, Token: tok, Mount: mount})
	if err != nil {
		t.Fatal(err)
	}
	k := dek.New()
	b, err := m.WrapKey(ctx, "audit", k, nil)
	if err != nil {
		t.Fatalf("WrapKey with upsert disabled: %v", err)
	}
	if got, err := m.UnwrapKey(ctx, "audit", b, nil); err != nil || !bytes.Equal(got, k) {
		t.Errorf("UnwrapKey: %v", err)
	}
	if err := m.RotateWrapKey(ctx, "other"); err != nil {
		t.Errorf("RotateWrapKey of a new ring with upsert disabled: %v", err)
	}
}

// TestWrapAppRole: the policy in wrap.go's comment (with the signing
// policy of the package comment) is enough to wrap, unwrap and rotate, and
// confines the role to its prefix.
func TestWrapAppRole(t *testing.T) {
	addr, _, root := vaultEnv(t)
	ctx := context.Background()
	prefix := randomPrefix(t)
	t.Cleanup(func() { deleteKeys(t, root, prefix) })
	role := strings.TrimSuffix(prefix, "-")
	if err := root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil && !strings.Contains(err.Error(), "path is already in use") {
		t.Fatalf("enable approle: %v", err)
	}
	policy := `
path "transit/keys/` + prefix + `*"    { capabilities = ["create", "read", "update"] }
path "transit/keys"                     { capabilities = ["list"] }
path "transit/sign/` + prefix + `*"    { capabilities = ["update"] }
path "transit/encrypt/` + prefix + `*" { capabilities = ["create", "update"] }
path "transit/decrypt/` + prefix + `*" { capabilities = ["update"] }`
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

	m, err := Open(ctx, Config{Address: addr, RoleID: roleID, SecretID: secretID, Prefix: prefix})
	if err != nil {
		t.Fatalf("Open with AppRole: %v", err)
	}
	k := dek.New()
	b, err := m.WrapKey(ctx, "audit", k, []byte("a"))
	if err != nil {
		t.Fatalf("WrapKey (creates the key): %v", err)
	}
	if err := m.RotateWrapKey(ctx, "audit"); err != nil {
		t.Fatalf("RotateWrapKey: %v", err)
	}
	if err := m.RotateWrapKey(ctx, "fresh"); err != nil {
		t.Fatalf("RotateWrapKey of a new ring: %v", err)
	}
	if got, err := m.UnwrapKey(ctx, "audit", b, []byte("a")); err != nil || !bytes.Equal(got, k) {
		t.Fatalf("UnwrapKey: %v", err)
	}
	if got, err := m.UnwrapKey(ctx, "audit", b, []byte("b")); !errors.Is(err, keys.ErrUnwrap) || got != nil {
		t.Errorf("UnwrapKey with another aad: got %v, want ErrUnwrap", err)
	}
	// Outside the prefix the role can neither encrypt nor decrypt.
	other := &Manager{client: m.client, mount: m.mount, prefix: "not-" + prefix}
	if _, err := other.WrapKey(ctx, "audit", k, nil); err == nil {
		t.Errorf("the AppRole token wrapped under a key outside its prefix; the policy is too wide")
	}
}

// TestWrapErrorPaths uses an httptest stand-in for answers a healthy Vault
// does not give on demand.
func TestWrapErrorPaths(t *testing.T) {
	t.Setenv("VAULT_MAX_RETRIES", "0")
	ctx := context.Background()
	var answer atomic.Value // func(w http.ResponseWriter, r *http.Request)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/auth/token/lookup-self" {
			w.Write([]byte(`{"data":{"id":"x"}}`))
			return
		}
		answer.Load().(func(http.ResponseWriter, *http.Request))(w, r)
	}))
	t.Cleanup(srv.Close)
	m, err := Open(ctx, Config{Address: srv.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	k := dek.New()
	blob := []byte("vault:v1:" + base64.StdEncoding.EncodeToString(make([]byte, 60)))
	status := func(code int, body string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(code)
			w.Write([]byte(body))
		}
	}

	// Vault sealed or overloaded: ErrUnavailable, never ErrUnwrap.
	for _, code := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusTooManyRequests} {
		answer.Store(status(code, `{"errors":["Vault is sealed"]}`))
		if _, err := m.WrapKey(ctx, "audit", k, nil); !errors.Is(err, keys.ErrUnavailable) {
			t.Errorf("WrapKey on %d: got %v, want ErrUnavailable", code, err)
		}
		if got, err := m.UnwrapKey(ctx, "audit", blob, nil); !errors.Is(err, keys.ErrUnavailable) || errors.Is(err, keys.ErrUnwrap) || got != nil {
			t.Errorf("UnwrapKey on %d: got %v, want ErrUnavailable and not ErrUnwrap", code, err)
		}
		if err := m.RotateWrapKey(ctx, "audit"); !errors.Is(err, keys.ErrUnavailable) {
			t.Errorf("RotateWrapKey on %d: got %v, want ErrUnavailable", code, err)
		}
	}
	// Permission denied is a configuration problem: neither sentinel.
	answer.Store(status(http.StatusForbidden, `{"errors":["permission denied"]}`))
	if _, err := m.UnwrapKey(ctx, "audit", blob, nil); err == nil || errors.Is(err, keys.ErrUnwrap) || errors.Is(err, keys.ErrUnavailable) {
		t.Errorf("UnwrapKey on 403: got %v, want an error that is neither ErrUnwrap nor ErrUnavailable", err)
	}
	// A plaintext that is not a 32-byte key is not handed out.
	answer.Store(status(http.StatusOK, `{"data":{"plaintext":"`+base64.StdEncoding.EncodeToString([]byte("short"))+`"}}`))
	if got, err := m.UnwrapKey(ctx, "audit", blob, nil); !errors.Is(err, keys.ErrUnwrap) || got != nil {
		t.Errorf("UnwrapKey of a 5-byte plaintext: got %d bytes, %v; want ErrUnwrap", len(got), err)
	}
	// A ciphertext of another shape is not handed out either.
	answer.Store(status(http.StatusOK, `{"data":{"ciphertext":"not-transit"}}`))
	if got, err := m.WrapKey(ctx, "audit", k, nil); err == nil || got != nil {
		t.Errorf("WrapKey answered with a malformed ciphertext: got %q, %v; want an error", got, err)
	}
	// The DEK and aad travel base64-encoded, the aad as associated_data.
	var seen map[string]any
	answer.Store(func(w http.ResponseWriter, r *http.Request) {
		seen = nil
		readJSON(r, &seen)
		w.Write([]byte(`{"data":{"ciphertext":"vault:v3:QUJD","key_version":3}}`))
	})
	got, err := m.WrapKey(ctx, "audit", k, []byte("aad"))
	if err != nil || string(got) != "vault:v3:QUJD" {
		t.Fatalf("WrapKey: got %q, %v", got, err)
	}
	if seen["plaintext"] != base64.StdEncoding.EncodeToString(k) || seen["associated_data"] != base64.StdEncoding.EncodeToString([]byte("aad")) || seen["type"] != "aes256-gcm96" {
		t.Errorf("encrypt request fields: plaintext ok %v, associated_data %v, type %v", seen["plaintext"] == base64.StdEncoding.EncodeToString(k), seen["associated_data"], seen["type"])
	}
}

func readJSON(r *http.Request, v any) { _ = json.NewDecoder(r.Body).Decode(v) }

func TestParseWrapped(t *testing.T) {
	tests := []struct {
		in   string
		want int // 0: ErrUnwrap
	}{
		{"vault:v1:QUJD", 1},
		{"vault:v12:QUJDRA==", 12},
		{"vault:v0:QUJD", 0},
		{"vault:v01:QUJD", 0},
		{"vault:v-1:QUJD", 0},
		{"vault:v+1:QUJD", 0},
		{"vault:v1:", 0},
		{"vault:v1:QUJDRA=", 0},  // bad padding
		{"vault:v1:QUJDRB==", 0}, // non-zero padding bits: not canonical
		{"vault:v1:QUJD\n", 0},
		{"vault:v1:QU JD", 0},
		{"vault:v1", 0},
		{"vault:QUJD", 0},
		{"v1:QUJD", 0},
		{"", 0},
		{"vault:v1:" + strings.Repeat("A", 2000), 0},
	}
	for _, tc := range tests {
		got, err := parseWrapped([]byte(tc.in))
		if tc.want == 0 {
			if !errors.Is(err, keys.ErrUnwrap) {
				t.Errorf("parseWrapped(%.20q): got %d, %v; want ErrUnwrap", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseWrapped(%q): got %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// BenchmarkUnwrapKey measures one transit decrypt round trip.
func BenchmarkUnwrapKey(b *testing.B) {
	addr := testenv.Require(b, testenv.VaultAddr, "Vault")
	tok := testenv.Require(b, testenv.VaultTok, "Vault")
	ctx := context.Background()
	m, err := Open(ctx, Config{Address: addr, Token: tok, Prefix: "cedulabench-"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		name := m.mount + "/keys/" + m.wrapKeyName("bench")
		m.client.Logical().Write(name+"/config", map[string]any{"deletion_allowed": true})
		m.client.Logical().Delete(name)
	})
	wrapped, err := m.WrapKey(ctx, "bench", dek.New(), []byte("subject"))
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.UnwrapKey(ctx, "bench", wrapped, []byte("subject")); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
