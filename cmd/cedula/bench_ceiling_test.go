package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/credential"
	"github.com/cedula/cedula/issuer/vci"
)

// BenchmarkCredentialCeiling measures what one credential request costs
// at the least on this machine, to read `cedula bench credential` against:
// the wallet's part exactly as the bench does it (a fresh ES256 holder
// key, its key proof and the DPoP proof signed, the JSON body), an HTTP
// round trip on loopback, and a handler that does only the request's
// crypto — the DPoP proof verified (ES256) and checked against the method,
// URL and token, the key proof verified (ES256) and its aud and nonce
// checked — and then makes the demo PID SD-JWT VC for the proof's key
// (its disclosures, one ES256 signature with a key of a local keystore)
// and answers it in JSON. No token lookup, no ledger decision, no
// database, no audit entry, no middleware. It is loaded like the bench
// (vciConcurrency workers in a closed loop), then J the same way, in the
// same run, and reports both rates and their ratio.
//
//	go test -run '^$' -bench CredentialCeiling -benchtime 20000x ./cmd/cedula/
func BenchmarkCredentialCeiling(b *testing.B) {
	c, hc, ref := startCeiling(b)
	w := &wallet{is: &vciIssuer{hc: hc, id: c.issuer, credential: c.url}, token: c.token, ath: c.ath}
	var err error
	if w.dpop, err = jose.NewClientKey(keys.ES256); err != nil {
		b.Fatal(err)
	}
	measureCeiling(b, ref, hc, "credentials/s", func(ctx context.Context) error { return w.credential(ctx, "pid", c.nonce, 1) })
}

// startCeiling serves the ceiling's handler and J on loopback, and
// returns the handler and the HTTP client the loads share.
func startCeiling(b *testing.B) (*credentialCeiling, *http.Client, *bench.Reference) {
	c := newCredentialCeiling(b)
	srv := httptest.NewServer(c)
	b.Cleanup(srv.Close)
	c.url = srv.URL
	ref, err := bench.StartReference(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ref.Close() })
	return c, bench.NewHTTPClient(vciConcurrency), ref
}

// measureCeiling checks op once, then loads it and J the same way and
// reports both rates (op's in unit) and their ratio.
func measureCeiling(b *testing.B, ref *bench.Reference, hc *http.Client, unit string, op func(context.Context) error) {
	if err := op(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	rate := ceilingRate(b, op)
	j := ceilingRate(b, ref.Op(hc))
	b.StopTimer()
	b.ReportMetric(rate, unit)
	b.ReportMetric(j, "J/s")
	b.ReportMetric(rate/j, "ceiling/J")
}

// BenchmarkFlowCeiling is BenchmarkCredentialCeiling for the whole
// pre-authorized flow of `cedula bench issue`, with the same wallet code:
// the token request (a fresh DPoP key, its proof signed; the handler
// verifies it and answers a fixed token), a nonce request (a fixed nonce)
// and the credential request as above — three round trips, three ES256
// verifications and one signature on the server side, and nothing else.
//
//	go test -run '^$' -bench FlowCeiling -benchtime 10000x ./cmd/cedula/
func BenchmarkFlowCeiling(b *testing.B) {
	c, hc, ref := startCeiling(b)
	is := &vciIssuer{hc: hc, id: c.issuer, credential: c.url, token: c.url + "/token", nonce: c.url + "/nonce"}
	measureCeiling(b, ref, hc, "flows/s", func(ctx context.Context) error {
		w, err := is.redeem(ctx, vciOffer{code: "code", txCode: "123456"})
		if err != nil {
			return err
		}
		nonce, err := is.fetchNonce(ctx)
		if err != nil {
			return err
		}
		return w.credential(ctx, "pid", nonce, 1)
	})
}

// ceilingRate runs op b.N times from vciConcurrency workers, each with one
// call in flight, and returns the calls per second.
func ceilingRate(b *testing.B, op func(context.Context) error) float64 {
	_, elapsed, err := bench.Loop(context.Background(), b.N, vciConcurrency, func(ctx context.Context, _ int) error { return op(ctx) })
	if err != nil {
		b.Error(err)
	}
	return float64(b.N) / elapsed.Seconds()
}

// credentialCeiling is the least a credential endpoint does.
type credentialCeiling struct {
	url, issuer, nonce, token, ath string
	key                            keys.Key
	pid                            credential.Type
	claims                         map[string]any
}

func newCredentialCeiling(b *testing.B) *credentialCeiling {
	ctx := b.Context()
	kek := make([]byte, localkeys.KEKSize)
	rand.Read(kek)
	ks, err := localkeys.Open(filepath.Join(b.TempDir(), "keystore.json"), localkeys.WithKEK(kek))
	if err != nil {
		b.Fatal(err)
	}
	c := &credentialCeiling{issuer: "https://issuer.ceiling.invalid", nonce: "the-ceiling-nonce", token: "the-ceiling-access-token"}
	h := sha256.Sum256([]byte(c.token))
	c.ath = base64.RawURLEncoding.EncodeToString(h[:])
	if c.key, err = ks.Active(ctx, vci.IssuerRing, keys.ES256); err != nil {
		b.Fatal(err)
	}
	types, err := credential.Demo()
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range types {
		if t.ID == "pid" {
			c.pid = t
		}
	}
	c.claims, err = vci.DemoRegistry{}.Claims(ctx, vci.SourceRequest{TypeID: "pid", CitizenID: "ceiling",
		Citizen: issuer.Citizen{GivenName: "Ana", FamilyName: "García López", Birthdate: "1990-04-12"}, Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func (c *credentialCeiling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/token":
		p, err := jose.ParseDPoPProof([]byte(r.Header.Get("DPoP")))
		if err != nil || p.HTU != c.url+"/token" || r.ParseForm() != nil || r.PostForm.Get("pre-authorized_code") == "" {
			http.Error(w, "bad token request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": c.token, "token_type": "DPoP", "expires_in": 300})
		return
	case "/nonce":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"c_nonce": c.nonce})
		return
	}
	cred, err := c.serve(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"credentials": []map[string]string{{"credential": cred}}, "notification_id": "ceiling"})
}

// serve checks the request's proofs and makes its one credential.
func (c *credentialCeiling) serve(r *http.Request) (string, error) {
	p, err := jose.ParseDPoPProof([]byte(r.Header.Get("DPoP")))
	if err != nil {
		return "", err
	}
	if p.HTM != r.Method || p.HTU != c.url || p.ATH != c.ath || r.Header.Get("Authorization") != "DPoP "+c.token {
		return "", fmt.Errorf("the DPoP proof or token does not match the request")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, vci.MaxRequest))
	if err != nil {
		return "", err
	}
	var req struct {
		Proofs struct {
			JWT []string `json:"jwt"`
		} `json:"proofs"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Proofs.JWT) != 1 {
		return "", fmt.Errorf("want one jwt proof")
	}
	kp, err := jose.ParseKeyProof([]byte(req.Proofs.JWT[0]), vci.ProofType, vci.ProofAlgs...)
	if err != nil {
		return "", err
	}
	var cl struct {
		Aud   string `json:"aud"`
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal(kp.Payload, &cl); err != nil || cl.Aud != c.issuer || cl.Nonce != c.nonce {
		return "", fmt.Errorf("the key proof's aud or nonce is wrong")
	}
	cred, _, err := credential.Issue(r.Context(), c.key, credential.Request{Issuer: c.issuer, Type: c.pid, Claims: c.claims,
		Holder: kp.JWK, Now: time.Now(), Status: &statuslist.Reference{Index: 7, URI: c.issuer + "/vci/status/ceiling"}})
	return cred, err
}
