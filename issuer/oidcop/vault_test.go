package oidcop_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys/vaultkeys"
	"github.com/cedula/cedula/internal/testenv"
)

// TestIDTokensSignedInVault issues ID tokens whose keys live in a real
// Vault's transit engine and verifies them, with go-oidc, against the JWKS
// the provider publishes.
func TestIDTokensSignedInVault(t *testing.T) {
	addr := testenv.Require(t, testenv.VaultAddr, "Vault")
	b := make([]byte, 4)
	rand.Read(b)
	km, err := vaultkeys.Open(context.Background(), vaultkeys.Config{Address: addr, Token: testenv.Require(t, testenv.VaultTok, "Vault"),
		Prefix: "cedula-oidcop-" + hex.EncodeToString(b) + "-"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, km)
	prov, err := oidc.NewProvider(context.Background(), e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ client, redirect, alg string }{
		{webClient, "https://tax.example/cb", "ES256"},
		{rsaClient, "https://rsa.example/cb", "RS256"},
	} {
		raw := e.idToken(tc.client, tc.redirect)
		hdr, _ := jose.Header([]byte(raw))
		if fmt.Sprint(hdr["alg"]) != tc.alg {
			t.Errorf("%s: alg %v, want %s", tc.client, hdr["alg"], tc.alg)
		}
		if _, err := prov.Verifier(&oidc.Config{ClientID: tc.client, SupportedSigningAlgs: []string{tc.alg}}).Verify(context.Background(), raw); err != nil {
			t.Errorf("%s: ID token signed in Vault does not verify with the JWKS: %v", tc.client, err)
		}
	}
}
