package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/vci"
)

// extraTypes are credential types beside the demo's, for the refusals:
// one whose purpose belongs to another agency (the ledger denies), one
// from a back end that fails, one from a back end that is slow, and one
// that needs an officer's approval.
const extraTypes = `
- id: denied
  vct: /vct/denied/1
  lifetime: 24h
  issuers: [demo-machine]
  purpose: demo-sign-in
  categories: [profile]
  display: [{locale: es, name: Denegada}, {locale: en, name: Denied}]
  claims: [{path: [given_name], sd: always}]
- id: failing
  vct: /vct/failing/1
  lifetime: 24h
  issuers: [demo-machine]
  purpose: demo-credentials
  categories: [identity]
  source: {url: "%s/fail", timeout: 200ms, retries: 1}
  display: [{locale: es, name: Fallida}, {locale: en, name: Failing}]
  claims: [{path: [given_name], sd: always}]
- id: slow
  vct: /vct/slow/1
  lifetime: 24h
  issuers: [demo-machine]
  purpose: demo-credentials
  categories: [identity]
  source: {url: "%s/slow", timeout: 100ms, retries: 0}
  display: [{locale: es, name: Lenta}, {locale: en, name: Slow}]
  claims: [{path: [given_name], sd: always}]
`

// TestIssuanceRefusals: every refusal in its form — problems for the
// agency, OAuth and OpenID4VCI errors for the wallet — each audited where
// it touches a citizen, and nothing half issued.
func TestIssuanceRefusals(t *testing.T) {
	var sourceCalls atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sourceCalls.Add(1)
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer backend.Close()
	dir := t.TempDir()
	typesFile := filepath.Join(dir, "types.yaml")
	if err := os.WriteFile(typesFile, []byte(fmt.Sprintf(extraTypes, backend.URL, backend.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, u := startServer(t, func(c *config.Config) { c.Demo, c.CredentialTypes = true, typesFile })
	e := &env{t: t, s: s, url: u}
	e.key, _ = jose.NewClientKey(keys.ES256)
	e.agency(demo.MachineID, scopes.Issuance, scopes.Consent)
	e.agency("other-agency", scopes.Issuance)
	ctx := context.Background()
	ana := e.citizen("Ana")
	sub := e.loggedInAt(demo.MachineID, ana)
	tok := e.token(demo.MachineID, scopes.Issuance)

	problem := func(status int, out map[string]any, want int, slug string) {
		t.Helper()
		if status != want || !strings.HasSuffix(fmt.Sprint(out["type"]), slug) {
			t.Errorf("got %d %v, want %d %s", status, out, want, slug)
		}
	}
	// The agency's refusals.
	st, out := e.offer(tok, sub, "nope")
	problem(st, out, http.StatusBadRequest, "/problems/unknown-credential-type")
	st, out = e.offer(tok, "someone-else", "pid")
	problem(st, out, http.StatusNotFound, "/problems/unknown-citizen")
	other := e.token("other-agency", scopes.Issuance)
	otherSub := e.loggedInAt("other-agency", ana)
	st, out = e.offer(other, otherSub, "pid")
	problem(st, out, http.StatusForbidden, "/problems/not-an-issuer")
	st, out = e.offer(tok, sub, "denied")
	problem(st, out, http.StatusForbidden, "/problems/ledger-denied")
	if res, _ := e.do(http.MethodPost, "/issuance/offers", e.token(demo.MachineID, scopes.Consent), `{"subject":"x","credential_configuration_id":"pid"}`); res.StatusCode != http.StatusForbidden {
		t.Errorf("a token without cedula:issuance: %d", res.StatusCode)
	}
	if res, _ := e.do(http.MethodGet, "/issuance/credentials/nope", tok, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown credential: %d", res.StatusCode)
	}

	// Five wrong transaction codes void the offer.
	_, offer := e.offer(tok, sub, "pid")
	_, code := e.offerCode(offer)
	for i := range 5 {
		_, st, out := e.redeem(code, fmt.Sprintf("%06d", i))
		if st != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Fatalf("wrong code %d: %d %v", i, st, out)
		}
	}
	if _, st, out := e.redeem(code, offer["tx_code"].(string)); st != http.StatusBadRequest || out["error"] != "invalid_grant" ||
		!strings.Contains(fmt.Sprint(out["error_description"]), "void") {
		t.Errorf("the right code after five wrong ones: %d %v", st, out)
	}
	if c, _, _ := e.get(strings.TrimPrefix(offer["credential_offer_url"].(string), e.url), ""); c != http.StatusNotFound {
		t.Errorf("a void offer is still served: %d", c)
	}
	for _, form := range []string{"pre-authorized_code=abc&tx_code=123456", "tx_code=123456", "pre-authorized_code=" + code} {
		w := &wallet{e: e}
		w.dpop, _ = jose.NewClientKey(keys.ES256)
		vals, _ := urlValues(form)
		vals.Set("grant_type", vci.GrantPreAuthorized)
		if st, out, _ := w.post("/oauth/token", vals, nil); st != http.StatusBadRequest || (out["error"] != "invalid_grant" && out["error"] != "invalid_request") {
			t.Errorf("%s: %d %v", form, st, out)
		}
	}

	// The wallet's refusals: no token, a token of another kind, then a
	// source that fails or is slow: 502/504, nothing issued.
	if res, out := e.do(http.MethodPost, "/vci/credential", "", `{}`); res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %v", res.StatusCode, out)
	}
	if res, out := e.do(http.MethodPost, "/vci/credential", tok, `{}`); res.StatusCode != http.StatusUnauthorized || out["error"] != "invalid_token" {
		t.Errorf("an agency's token at the credential endpoint: %d %v", res.StatusCode, out)
	}
	for typeID, want := range map[string]int{"failing": http.StatusBadGateway, "slow": http.StatusGatewayTimeout} {
		_, offer := e.offer(tok, sub, typeID)
		_, code := e.offerCode(offer)
		w, st, _ := e.redeem(code, offer["tx_code"].(string))
		if st != http.StatusOK {
			t.Fatalf("%s: token %d", typeID, st)
		}
		_, nonce, _ := w.post("/vci/nonce", nil, map[string]any{})
		_, proofs := e.proofs(1, nonce["c_nonce"].(string))
		sourceCalls.Store(0)
		st, out, hdr := w.post("/vci/credential", nil, map[string]any{"credential_configuration_id": typeID, "proofs": map[string]any{"jwt": proofs}})
		if st != want || !strings.HasPrefix(hdr.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %v, want %d", typeID, st, out, want)
		}
		if typeID == "failing" && sourceCalls.Load() != 2 {
			t.Errorf("the failing back end was called %d times, want 2 (one retry)", sourceCalls.Load())
		}
		c, err := s.Issuer.Get(ctx, demo.MachineID, offer["credential_id"].(string))
		if err != nil || c.Count != 0 || c.State != vci.StateRedeemed {
			t.Errorf("%s: after the failure the issuance is %+v (%v)", typeID, c, err)
		}
		// The nonce was not spent: the wallet may retry with it.
		_, again := e.proofs(1, nonce["c_nonce"].(string))
		if st, out, _ := w.post("/vci/credential", nil, map[string]any{"credential_configuration_id": typeID, "proofs": map[string]any{"jwt": again}}); st != want {
			t.Errorf("%s: retry with the same nonce: %d %v", typeID, st, out)
		}
	}

	// The log holds the denials, and no issuance entry.
	if err := s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _, err := s.Audit.EntriesAbout(ctx, s.AuditSubject(ana), 0, audit.MaxEntries)
	if err != nil {
		t.Fatal(err)
	}
	var denied, issued []string
	for _, r := range recs {
		en, _ := r.Entry()
		switch {
		case en.Outcome == audit.Denied:
			denied = append(denied, en.Actor.ID+" "+en.Action)
		case en.Action == vci.ActionIssue:
			issued = append(issued, en.Action)
		}
	}
	slices.Sort(denied)
	want := []string{"demo-machine consent.decide", "demo-machine credential.offer", "other-agency credential.offer"}
	if !slices.Equal(denied, want) {
		t.Errorf("denials in the log: %v, want %v", denied, want)
	}
	if len(issued) != 0 {
		t.Errorf("issuance entries without a credential: %v", issued)
	}

	// Guessing codes: failures from one address are limited, and then
	// even a right code waits (last, as it blocks this test's address).
	_, offer = e.offer(tok, sub, "pid")
	_, code = e.offerCode(offer)
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		w := &wallet{e: e}
		w.dpop, _ = jose.NewClientKey(keys.ES256)
		st, out, hdr := w.post("/oauth/token", url.Values{"grant_type": {vci.GrantPreAuthorized}, "pre-authorized_code": {fmt.Sprint("guess-", i)},
			"tx_code": {"000000"}}, nil)
		switch {
		case st == http.StatusTooManyRequests:
			limited = hdr.Get("Retry-After") != "" && out["error"] == "invalid_grant"
		case st != http.StatusBadRequest:
			t.Fatalf("guess %d: %d %v", i, st, out)
		}
	}
	if !limited {
		t.Errorf("40 failed pre-authorized grant requests from one address were never limited")
	}
	if _, st, _ := e.redeem(code, offer["tx_code"].(string)); st != http.StatusTooManyRequests {
		t.Errorf("a right code from a limited address: %d, want 429", st)
	}
}

func urlValues(s string) (url.Values, error) { return url.ParseQuery(s) }
