package oidcop_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
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
		verifier, challenge := pkce()
		back := e.authorize(codeRequest(tc.client, tc.redirect, challenge))
		_, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {tc.redirect},
			"code_verifier": {verifier}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {e.assertion(tc.client)}})
		raw, _ := out["id_token"].(string)
		hdr, _ := jose.Header([]byte(raw))
		if fmt.Sprint(hdr["alg"]) != tc.alg {
			t.Errorf("%s: alg %v, want %s", tc.client, hdr["alg"], tc.alg)
		}
		if _, err := prov.Verifier(&oidc.Config{ClientID: tc.client, SupportedSigningAlgs: []string{tc.alg}}).Verify(context.Background(), raw); err != nil {
			t.Errorf("%s: ID token signed in Vault does not verify with the JWKS: %v", tc.client, err)
		}
	}
}
