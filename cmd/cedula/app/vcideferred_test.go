package app_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/backend"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/internal/sdjwt"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/vci"
)

// issueTo runs the pre-authorized flow for one offer with n holder keys
// and returns the wallet and the credential endpoint's answer.
func (e *env) issueTo(agencyToken, sub, typeID string, n int) (*wallet, int, map[string]any) {
	e.t.Helper()
	st, offer := e.offer(agencyToken, sub, typeID)
	if st != http.StatusCreated {
		e.t.Fatalf("offer %s: %d %v", typeID, st, offer)
	}
	_, code := e.offerCode(offer)
	w, st, tok := e.redeem(code, offer["tx_code"].(string))
	if st != http.StatusOK {
		e.t.Fatalf("token: %d %v", st, tok)
	}
	_, nonce, _ := w.post("/vci/nonce", nil, map[string]any{})
	_, proofs := e.proofs(n, nonce["c_nonce"].(string))
	st, resp, _ := w.post("/vci/credential", nil, map[string]any{"credential_configuration_id": typeID, "proofs": map[string]any{"jwt": proofs}})
	resp["credential_id"] = offer["credential_id"]
	return w, st, resp
}

// TestIssuanceDeferred: a type that needs an officer answers 202 with a
// transaction; the deferred endpoint says issuance_pending until the
// agency approves, then gives the credentials once; a rejection is
// credential_request_denied.
func TestIssuanceDeferred(t *testing.T) {
	e := newIssuerEnv(t)
	sub := e.loggedInAt(demo.MachineID, e.citizen("Ana"))
	tok := e.token(demo.MachineID, scopes.Issuance)
	const typeID = "business-representation"

	w, st, resp := e.issueTo(tok, sub, typeID, 2)
	txn, _ := resp["transaction_id"].(string)
	if st != http.StatusAccepted || txn == "" || resp["interval"] == nil || resp["credentials"] != nil {
		t.Fatalf("deferred request: %d %v", st, resp)
	}
	credID := resp["credential_id"].(string)
	if st, out, _ := w.post("/vci/deferred", nil, map[string]any{"transaction_id": txn}); st != http.StatusBadRequest || out["error"] != vci.CodeIssuancePending {
		t.Errorf("before approval: %d %v", st, out)
	}
	if st, out, _ := w.post("/vci/deferred", nil, map[string]any{"transaction_id": "nope"}); st != http.StatusBadRequest || out["error"] != vci.CodeInvalidTransaction {
		t.Errorf("unknown transaction: %d %v", st, out)
	}
	res, out := e.do(http.MethodPost, "/issuance/credentials/"+credID+"/approval", tok, `{"approve":true}`)
	if res.StatusCode != http.StatusOK || out["state"] != "approved" {
		t.Fatalf("approval: %d %v", res.StatusCode, out)
	}
	if res, _ := e.do(http.MethodPost, "/issuance/credentials/"+credID+"/approval", tok, `{"approve":false}`); res.StatusCode != http.StatusConflict {
		t.Errorf("deciding twice: %d, want 409", res.StatusCode)
	}
	st, got, _ := w.post("/vci/deferred", nil, map[string]any{"transaction_id": txn})
	if creds, _ := got["credentials"].([]any); st != http.StatusOK || len(creds) != 2 || got["notification_id"] != credID {
		t.Fatalf("after approval: %d %v", st, got)
	}
	if st, out, _ := w.post("/vci/deferred", nil, map[string]any{"transaction_id": txn}); st != http.StatusBadRequest || out["error"] != vci.CodeInvalidTransaction {
		t.Errorf("collecting twice: %d %v", st, out)
	}
	if res, out := e.do(http.MethodGet, "/issuance/credentials/"+credID, tok, ""); res.StatusCode != http.StatusOK || out["state"] != "issued" || out["count"] != 2.0 {
		t.Errorf("the issuance after collection: %v", out)
	}

	w, _, resp = e.issueTo(tok, sub, typeID, 1)
	if res, _ := e.do(http.MethodPost, "/issuance/credentials/"+resp["credential_id"].(string)+"/approval", tok, `{"approve":false}`); res.StatusCode != http.StatusOK {
		t.Fatalf("rejection: %d", res.StatusCode)
	}
	if st, out, _ := w.post("/vci/deferred", nil, map[string]any{"transaction_id": resp["transaction_id"]}); st != http.StatusBadRequest || out["error"] != vci.CodeDenied {
		t.Errorf("after rejection: %d %v", st, out)
	}
}

// TestIssuerKeyRotation: after the issuer key rotates, credentials signed
// before still verify with the keys the issuer publishes, beside the new
// ones; and the status list is signed with the new key.
func TestIssuerKeyRotation(t *testing.T) {
	e := newIssuerEnv(t)
	sub := e.loggedInAt(demo.MachineID, e.citizen("Ana"))
	tok := e.token(demo.MachineID, scopes.Issuance)
	_, st, before := e.issueTo(tok, sub, "pid", 1)
	if st != http.StatusOK {
		t.Fatalf("before: %d %v", st, before)
	}
	if _, err := e.s.Keys.Rotate(context.Background(), vci.IssuerRing, keys.ES256); err != nil {
		t.Fatal(err)
	}
	_, st, after := e.issueTo(tok, sub, "pid", 1)
	if st != http.StatusOK {
		t.Fatalf("after: %d %v", st, after)
	}
	_, meta, _ := e.get("/.well-known/jwt-vc-issuer", "")
	var im struct {
		JWKS json.RawMessage `json:"jwks"`
	}
	json.Unmarshal(meta, &im)
	seen := map[string]bool{}
	kids := map[string]bool{}
	var list string
	var idx []int
	for _, r := range []map[string]any{before, after} {
		cred := r["credentials"].([]any)[0].(map[string]any)["credential"].(string)
		claims := verifyCredential(t, cred, im.JWKS, seen)
		kids[credentialKID(t, cred)] = true
		ref := claims["status"].(map[string]any)["status_list"].(map[string]any)
		list = ref["uri"].(string)
		idx = append(idx, int(ref["idx"].(float64)))
	}
	if len(kids) != 2 {
		t.Errorf("both credentials were signed with the same key: %v", kids)
	}
	if readStatus(t, e, list, im.JWKS, idx[1:]) != "valid" {
		t.Errorf("the status list does not verify after rotation")
	}
}

// TestIssuanceEncrypted: a wallet encrypts its request to the key the
// metadata publishes and asks for an encrypted response (OpenID4VCI §10);
// the credentials come back as a JWE only it opens. Asked in clear, an
// encrypted response is refused.
func TestIssuanceEncrypted(t *testing.T) {
	e := newIssuerEnv(t)
	sub := e.loggedInAt(demo.MachineID, e.citizen("Ana"))
	tok := e.token(demo.MachineID, scopes.Issuance)
	_, meta, _ := e.get("/.well-known/openid-credential-issuer", "")
	var m struct {
		RequestEnc struct {
			JWKS struct {
				Keys []json.RawMessage `json:"keys"`
			} `json:"jwks"`
			Enc []string `json:"enc_values_supported"`
		} `json:"credential_request_encryption"`
		ResponseEnc struct {
			Alg []string `json:"alg_values_supported"`
		} `json:"credential_response_encryption"`
	}
	if err := json.Unmarshal(meta, &m); err != nil || len(m.RequestEnc.JWKS.Keys) != 1 || !slices.Contains(m.ResponseEnc.Alg, "ECDH-ES") {
		t.Fatalf("metadata: %s %v", meta, err)
	}
	_, offer := e.offer(tok, sub, "pid")
	_, code := e.offerCode(offer)
	w, _, _ := e.redeem(code, offer["tx_code"].(string))
	walletKey, _ := jose.NewEncryptionKey()
	request := func(encrypted bool) (int, http.Header, []byte) {
		_, nonce, _ := w.post("/vci/nonce", nil, map[string]any{})
		_, proofs := e.proofs(1, nonce["c_nonce"].(string))
		body, _ := json.Marshal(map[string]any{"credential_configuration_id": "pid", "proofs": map[string]any{"jwt": proofs},
			"credential_response_encryption": map[string]any{"jwk": json.RawMessage(walletKey.PublicJWK()), "enc": "A256GCM"}})
		ct := "application/json"
		if encrypted {
			jwe, err := jose.EncryptTo(m.RequestEnc.JWKS.Keys[0], "A128GCM", body)
			if err != nil {
				t.Fatal(err)
			}
			body, ct = []byte(jwe), "application/jwt"
		}
		return w.raw("/vci/credential", ct, body)
	}
	st, hdr, body := request(false)
	if st != http.StatusBadRequest || !strings.Contains(string(body), vci.CodeInvalidEncryption) {
		t.Errorf("an encrypted response asked in clear: %d %s", st, body)
	}
	st, hdr, body = request(true)
	if st != http.StatusOK || hdr.Get("Content-Type") != "application/jwt" {
		t.Fatalf("encrypted request: %d %v %s", st, hdr, body)
	}
	plain, err := walletKey.Decrypt(body)
	if err != nil {
		t.Fatalf("the wallet cannot open the response: %v", err)
	}
	var resp map[string]any
	json.Unmarshal(plain, &resp)
	if creds, _ := resp["credentials"].([]any); len(creds) != 1 {
		t.Errorf("decrypted response: %s", plain)
	}
}

// TestIssuerCertificate: with an issuer certificate configured, the
// credentials carry its chain in x5c; its leaf names the issuer's host
// and its key verifies the credential.
func TestIssuerCertificate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("CEDULA_KEK", strings.Repeat("cd", 32))
	km, err := backend.Open(ctx, backend.Config{URL: "local", DataDir: dir, RingRetention: app.LongLivedRings()})
	if err != nil {
		t.Fatal(err)
	}
	key, err := km.Active(ctx, vci.IssuerRing, keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Cedula credential issuer"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), keys.Signer(ctx, key))
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, "issuer.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	s, u := startServer(t, func(c *config.Config) { c.DataDir, c.Demo, c.CredentialCertificate = dir, true, certFile })
	e := &env{t: t, s: s, url: u}
	e.key, _ = jose.NewClientKey(keys.ES256)
	e.agency(demo.MachineID, scopes.Issuance)
	_, st, resp := e.issueTo(e.token(demo.MachineID, scopes.Issuance), e.loggedInAt(demo.MachineID, e.citizen("Ana")), "pid", 1)
	if st != http.StatusOK {
		t.Fatalf("issue: %d %v", st, resp)
	}
	p, _ := sdjwt.Parse(resp["credentials"].([]any)[0].(map[string]any)["credential"].(string))
	h, _ := jose.Header([]byte(p.JWT))
	x5c, _ := h["x5c"].([]any)
	if len(x5c) != 1 {
		t.Fatalf("x5c: %v", h["x5c"])
	}
	leafDER, _ := base64.StdEncoding.DecodeString(x5c[0].(string))
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := url.Parse(u)
	if leaf.VerifyHostname(iss.Hostname()) != nil {
		t.Errorf("the leaf does not name the issuer's host %s", iss.Hostname())
	}
	set, _ := jose.JWKS(keys.PublicKey{ID: fmt.Sprint(h["kid"]), Alg: keys.ES256, Key: leaf.PublicKey})
	if _, err := jose.Verify([]byte(p.JWT), set, keys.ES256); err != nil {
		t.Errorf("the credential does not verify with the x5c leaf: %v", err)
	}
}
