package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/verifier"
)

// holderRun is what the Node holder (testdata/node_holder.mjs) says it
// did with a request.
type holderRun struct {
	Client struct {
		Prefix     string `json:"prefix"`
		Identifier string `json:"identifier"`
	} `json:"client"`
	Fetched []struct {
		Method string   `json:"method"`
		Fields []string `json:"fields"`
	} `json:"fetched"`
	Mode      string              `json:"mode"`
	Query     []string            `json:"query"`
	Disclosed map[string][]string `json:"disclosed"`
	KB        struct {
		Aud          string `json:"aud"`
		NonceMatches bool   `json:"nonce_matches"`
	} `json:"kb"`
	Encrypted bool `json:"encrypted"`
	JWE       struct {
		Alg string `json:"alg"`
		Enc string `json:"enc"`
	} `json:"jwe"`
	Status   int            `json:"status"`
	Response map[string]any `json:"response"`
	Error    string         `json:"error"`
}

// hold runs the Node holder on link with h's credential and key, trusting
// the verifier's certificates from the CA at caPEM.
func (n nodeRunner) hold(t *testing.T, link string, caPEM []byte, h holder) holderRun {
	t.Helper()
	jwk, err := h.key.PrivateJWK()
	if err != nil {
		t.Fatal(err)
	}
	path, _ := filepath.Abs(filepath.Join("testdata", "node_holder.mjs"))
	cmd := exec.CommandContext(t.Context(), n.node, path)
	cmd.Env = append(os.Environ(), "NODE_DIR="+n.dir, "LINK="+link, "CA_PEM="+string(caPEM), "CREDENTIAL="+h.cred, "HOLDER_JWK="+string(jwk))
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("node node_holder.mjs: %v\n%s", err, outb)
	}
	t.Logf("node_holder.mjs did %s", outb)
	var run holderRun
	if err := json.Unmarshal(outb, &run); err != nil {
		t.Fatalf("node printed %q: %v", outb, err)
	}
	return run
}

// TestNodeHolderInterop: a holder nobody on the project wrote — npm's
// @openid4vc/openid4vp wallet side, dcql and @sd-jwt/sd-jwt-vc
// (testdata/node_holder.mjs) — answers Cedula's verifier with a PID from
// Cedula's issuer. The agency asks, under its identity-check purpose (Ana
// consented), for given_name and age_over_18; the holder follows the
// link, fetches the request object by POST, checks its x5c chain up to
// the verifier's CA and the x509_san_dns client identifier, matches the
// DCQL query, discloses the two claims alone with a KB-JWT for the
// client_id and nonce, and answers with direct_post, then with
// direct_post.jwt encrypted to the request's key. Each request is
// verified and the agency gets exactly the two claims. A revoked PID's
// answer fails, reported to the holder (400 invalid_request) and to the
// agency (failed: revoked). The holder refuses a request object whose
// chain does not end at the CA it trusts, and cannot resolve a request
// the agency cancelled.
func TestNodeHolderInterop(t *testing.T) {
	node := needNode(t)
	e := newIssuerEnv(t)
	ctx := context.Background()
	e.agency(demo.MachineID, scopes.Issuance, scopes.Verification)
	agency := e.token(demo.MachineID, scopes.Verification)
	ana := e.citizen("Ana")
	good, revoked := e.issuePID(ana), e.issuePID(ana)
	if res, out := e.do(http.MethodPut, "/issuance/credentials/"+revoked.issuance+"/status", e.token(demo.MachineID, scopes.Issuance),
		`{"status":"invalid"}`); res.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %v", res.StatusCode, out)
	}
	if err := e.s.Consent.Agree(ctx, ana, demo.MachineID, []string{demo.IdentityCheckPurposeID}, consent.MethodWeb); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(e.s.Config.DataDir, "verifier-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ask := func(mode string) verification {
		t.Helper()
		st, v, out := e.verification(http.MethodPost, "/verification/requests", agency,
			fmt.Sprintf(`{"purpose":%q,"response_mode":%q,"dcql_query":`+identityQuery+`}`, demo.IdentityCheckPurposeID, mode, e.url))
		if st != http.StatusCreated {
			t.Fatalf("%s: create: %d %v", mode, st, out)
		}
		return v
	}

	for _, mode := range []string{verifier.ModeDirectPost, verifier.ModeDirectPostJWT} {
		t.Run(mode, func(t *testing.T) {
			req := ask(mode)
			run := node.hold(t, req.Link, caPEM, good)
			if run.Error != "" {
				t.Fatalf("the holder failed: %s", run.Error)
			}
			if run.Client.Prefix != "x509_san_dns" || run.Client.Identifier != "localhost" {
				t.Errorf("the holder saw the client %+v, want x509_san_dns localhost", run.Client)
			}
			if len(run.Fetched) != 1 || run.Fetched[0].Method != "post" {
				t.Errorf("the holder fetched the request object %+v, want once by POST", run.Fetched)
			}
			if run.Mode != mode || run.Encrypted != (mode == verifier.ModeDirectPostJWT) {
				t.Errorf("the holder answered in %q (encrypted %v), want %q", run.Mode, run.Encrypted, mode)
			}
			if run.Encrypted && run.JWE.Alg != "ECDH-ES" {
				t.Errorf("the answer's JWE: got %+v, want ECDH-ES", run.JWE)
			}
			if want := []string{"age_over_18", "given_name"}; !slices.Equal(run.Query, []string{"pid"}) || !slices.Equal(run.Disclosed["pid"], want) {
				t.Errorf("the holder disclosed %v for queries %v, want %v for pid", run.Disclosed, run.Query, want)
			}
			if run.KB.Aud != e.s.Verifier.ClientID() || !run.KB.NonceMatches {
				t.Errorf("the KB-JWT: %+v, want aud %s and the request's nonce", run.KB, e.s.Verifier.ClientID())
			}
			if run.Status != http.StatusOK {
				t.Fatalf("the verifier answered the holder %d %v, want 200", run.Status, run.Response)
			}
			st, v, out := e.verification(http.MethodGet, "/verification/requests/"+req.ID, agency, "")
			if st != http.StatusOK || v.Status != "verified" || v.Result == nil || len(v.Result.Credentials) != 1 {
				t.Fatalf("the agency sees %d %v, want verified with one credential", st, out)
			}
			c := v.Result.Credentials[0]
			if want := map[string]any{"given_name": "Ana", "age_over_18": true}; !reflect.DeepEqual(c.Claims, want) ||
				c.QueryID != "pid" || c.Issuer != e.url || c.Status != "valid" {
				t.Errorf("the agency got %+v, want %v alone from our issuer", c, want)
			}
		})
	}

	t.Run("revoked", func(t *testing.T) {
		req := ask(verifier.ModeDirectPost)
		run := node.hold(t, req.Link, caPEM, revoked)
		if run.Error != "" {
			t.Fatalf("the holder failed: %s", run.Error)
		}
		if run.Status != http.StatusBadRequest || run.Response["error"] != "invalid_request" {
			t.Errorf("the verifier answered the holder %d %v, want 400 invalid_request", run.Status, run.Response)
		}
		if _, v, out := e.verification(http.MethodGet, "/verification/requests/"+req.ID, agency, ""); v.Status != "failed" ||
			v.Failure == nil || v.Failure.Reason != "revoked" || v.Result != nil {
			t.Errorf("the agency sees %v, want failed for revoked", out)
		}
	})

	t.Run("a verifier the CA did not certify", func(t *testing.T) {
		req := ask(verifier.ModeDirectPost)
		run := node.hold(t, req.Link, otherCA(t), good)
		if !strings.Contains(run.Error, "does not end at the test CA") || run.Status != 0 {
			t.Errorf("the holder, trusting another CA: %q (%d), want it to refuse the request object", run.Error, run.Status)
		}
		if _, v, _ := e.verification(http.MethodGet, "/verification/requests/"+req.ID, agency, ""); v.Status != "fetched" {
			t.Errorf("the agency sees %q, want fetched (no answer)", v.Status)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		req := ask(verifier.ModeDirectPost)
		if res, _ := e.do(http.MethodDelete, "/verification/requests/"+req.ID, agency, ""); res.StatusCode != http.StatusNoContent {
			t.Fatalf("cancel: %d", res.StatusCode)
		}
		run := node.hold(t, req.Link, caPEM, good)
		if run.Error == "" || run.Status != 0 {
			t.Errorf("the holder answered a cancelled request (%d %v), want it unable to resolve it", run.Status, run.Response)
		}
		if _, v, _ := e.verification(http.MethodGet, "/verification/requests/"+req.ID, agency, ""); v.Status != "cancelled" {
			t.Errorf("the agency sees %q, want cancelled", v.Status)
		}
	})
}

// otherCA is a CA certificate (PEM) that certified nothing.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
