package backend

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/dek"
	"github.com/cedula/cedula/internal/testenv"
)

// roundTrip gets the Wrapper from a Manager as callers do and uses it.
func roundTrip(t *testing.T, m keys.Manager) {
	t.Helper()
	ctx := context.Background()
	w, err := keys.WrapperOf(m)
	if err != nil {
		t.Fatalf("WrapperOf(%T): %v", m, err)
	}
	k := dek.New()
	b, err := w.WrapKey(ctx, "audit", k, []byte("subject"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := w.UnwrapKey(ctx, "audit", b, []byte("subject")); err != nil || !bytes.Equal(got, k) {
		t.Errorf("UnwrapKey: %v", err)
	}
}

func TestOpenWrapsLocal(t *testing.T) {
	m, err := Open(context.Background(), Config{URL: "local", DataDir: t.TempDir(),
		Getenv: env(map[string]string{"CEDULA_KEK": strings.Repeat("ab", 32)})})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, m)
}

func TestOpenWrapsVault(t *testing.T) {
	addr := testenv.Require(t, testenv.VaultAddr, "Vault")
	tok := testenv.Require(t, testenv.VaultTok, "Vault")
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "cedulatest-" + hex.EncodeToString(b) + "-"
	t.Cleanup(func() {
		vc := api.DefaultConfig()
		vc.Address = addr
		c, err := api.NewClient(vc)
		if err != nil {
			return
		}
		c.SetToken(tok)
		c.Logical().Write("transit/keys/"+prefix+"audit.wrap/config", map[string]any{"deletion_allowed": true})
		c.Logical().Delete("transit/keys/" + prefix + "audit.wrap")
	})
	m, err := Open(context.Background(), Config{
		URL:    "vault://" + strings.TrimPrefix(addr, "http://") + "?prefix=" + prefix,
		Getenv: env(map[string]string{EnvVaultToken: tok}),
	})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, m)
}
