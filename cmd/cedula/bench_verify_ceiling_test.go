package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/sdjwt"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/issuer/credential"
)

// BenchmarkV2 measures V₂, the reference of `cedula bench verify`: ES256
// verifications per second of a fixed JWS on all cores (b.RunParallel,
// one goroutine per GOMAXPROCS), the same check the bench measures after
// each round.
//
//	go test -run '^$' -bench V2 ./cmd/cedula/
func BenchmarkV2(b *testing.B) {
	c, err := bench.NewES256Check()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !c.Verify() {
				b.Error("the JWS did not verify")
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}

// v2Duration is how long BenchmarkVerifyCeiling measures V₂, as the bench
// does by default after each round.
const v2Duration = 3 * time.Second

// BenchmarkVerifyCeiling measures what one presentation costs the verifier
// at the least on this machine, to read `cedula bench verify` against: the
// wallet's answer made as the bench makes it (the demo PID's address
// disclosed, the KB-JWT signed, the form), posted with the bench's client
// code at verifyConcurrency, an HTTP round trip on loopback, and a handler
// that does only the verifications a presentation needs — the form and
// vp_token parsed, the SD-JWT split and its disclosures decoded, the
// issuer's signature verified (ES256) with the issuer's key at hand, the
// disclosures hashed and checked against the payload, the KB-JWT verified
// (ES256) with the credential's cnf key and its sd_hash, aud and nonce
// checked — and answers 200 {}. No key or status-list lookups (the bench's
// are cached), no DCQL, no ledger, no database, no audit entry, no
// middleware. V₂ is measured after it in the same run, and the benchmark
// reports both rates and their ratio.
//
//	go test -run '^$' -bench VerifyCeiling -benchtime 20000x ./cmd/cedula/
func BenchmarkVerifyCeiling(b *testing.B) {
	c := newVerifyCeiling(b)
	srv := httptest.NewServer(c)
	b.Cleanup(srv.Close)
	hc := bench.NewHTTPClient(verifyConcurrency)
	a, err := c.holder.answer(verifyRequestObject{ClientID: c.aud, Nonce: c.nonce, State: c.state, ResponseURI: srv.URL + "/vp/responses/ceiling",
		ResponseMode: "direct_post"}, verifyQueryID, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	op := func(ctx context.Context, _ int) error { return postAnswer(ctx, hc, a) }
	if err := op(b.Context(), 0); err != nil {
		b.Fatal(err)
	}
	check, err := bench.NewES256Check()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	_, elapsed, err := bench.Loop(b.Context(), b.N, verifyConcurrency, op)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	rate := float64(b.N) / elapsed.Seconds()
	v, err := bench.MeasureV2(b.Context(), check, 0, v2Duration)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "presentations/s")
	b.ReportMetric(v.Rate, "V2/s")
	b.ReportMetric(rate/v.Rate, "ceiling/V2")
}

// verifyCeiling is the least a verifier's response endpoint does.
type verifyCeiling struct {
	issuerJWK         json.RawMessage
	aud, nonce, state string
	holder            verifyHolder
	issuer, claim     string
}

// TestVerifyCeiling: the ceiling's handler takes the answer the bench's
// wallet code makes, and refuses one bound to another nonce or whose
// disclosure was changed: it does the checks it claims to.
func TestVerifyCeiling(t *testing.T) {
	c := newVerifyCeiling(t)
	srv := httptest.NewServer(c)
	defer srv.Close()
	ro := verifyRequestObject{ClientID: c.aud, Nonce: c.nonce, State: c.state, ResponseURI: srv.URL, ResponseMode: "direct_post"}
	good, err := c.holder.answer(ro, verifyQueryID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ro.Nonce = "another-nonce"
	otherNonce, _ := c.holder.answer(ro, verifyQueryID, time.Now())
	changed := good
	changed.form = strings.Replace(good.form, "~", "~"+"WyJzIiwiYWRkcmVzcyIsIngiXQ"+"~", 1)
	for _, tc := range []struct {
		name string
		a    verifyAnswer
		ok   bool
	}{{"good", good, true}, {"another nonce", otherNonce, false}, {"a disclosure added", changed, false}} {
		t.Run(tc.name, func(t *testing.T) {
			if err := postAnswer(t.Context(), srv.Client(), tc.a); (err == nil) != tc.ok {
				t.Errorf("postAnswer: %v; want success %v", err, tc.ok)
			}
		})
	}
}

func newVerifyCeiling(b testing.TB) *verifyCeiling {
	cc := newCredentialCeiling(b) // the demo PID, its claims and an issuer key of a local keystore
	hk, err := jose.NewClientKey(keys.ES256)
	if err != nil {
		b.Fatal(err)
	}
	cnf, err := hk.PublicJWK()
	if err != nil {
		b.Fatal(err)
	}
	cred, _, err := credential.Issue(b.Context(), cc.key, credential.Request{Issuer: cc.issuer, Type: cc.pid, Claims: cc.claims,
		Holder: cnf, Now: time.Now(), Status: &statuslist.Reference{Index: 7, URI: cc.issuer + "/vci/status/ceiling"}})
	if err != nil {
		b.Fatal(err)
	}
	c := &verifyCeiling{aud: "x509_san_dns:verifier.ceiling.invalid", nonce: "the-ceiling-request-nonce", state: "the-ceiling-state",
		issuer: cc.issuer, claim: verifyClaim}
	if c.issuerJWK, err = jose.PublicJWK(cc.key.Public()); err != nil {
		b.Fatal(err)
	}
	if c.holder, err = newVerifyHolder(cred, verifyClaim, hk); err != nil {
		b.Fatal(err)
	}
	return c
}

func (c *verifyCeiling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := c.verify(r); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("{}\n"))
}

// verify does the answer's verifications, and nothing else.
func (c *verifyCeiling) verify(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	if r.PostForm.Get("state") != c.state {
		return errors.New("state does not match")
	}
	var vp map[string][]string
	if err := json.Unmarshal([]byte(r.PostForm.Get("vp_token")), &vp); err != nil || len(vp[verifyQueryID]) != 1 {
		return errors.New("vp_token is not one presentation for the query")
	}
	pres := vp[verifyQueryID][0]
	p, err := sdjwt.Parse(pres)
	if err != nil {
		return err
	}
	signed, err := jose.VerifyJWK([]byte(p.JWT), c.issuerJWK, keys.ES256)
	if err != nil {
		return err
	}
	var payload map[string]any
	dec := json.NewDecoder(bytes.NewReader(signed))
	dec.UseNumber()
	if err := dec.Decode(&payload); err != nil {
		return err
	}
	claims, err := sdjwt.Reconstruct(payload, p.Disclosures)
	if err != nil {
		return err
	}
	if claims["iss"] != c.issuer || claims[c.claim] == nil {
		return errors.New("not the issuer's, or the claim is not disclosed")
	}
	cnf, _ := claims["cnf"].(map[string]any)
	holder, err := json.Marshal(cnf["jwk"])
	if err != nil || cnf["jwk"] == nil {
		return errors.New("no cnf.jwk")
	}
	kbRaw, err := jose.VerifyJWK([]byte(p.KB), holder, keys.ES256)
	if err != nil {
		return err
	}
	var kb struct {
		Aud, Nonce string
		SDHash     string `json:"sd_hash"`
	}
	if err := json.Unmarshal(kbRaw, &kb); err != nil {
		return err
	}
	if kb.Aud != c.aud || kb.Nonce != c.nonce || kb.SDHash != sdjwt.SDHash(pres) || !strings.HasSuffix(pres, p.KB) {
		return errors.New("the key binding is not for this request")
	}
	return nil
}
