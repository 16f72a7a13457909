package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/internal/sdjwt"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/issuer/credential"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/verifier"
)

// holder is a wallet the test writes by hand: a credential of our
// issuer and its holder key.
type holder struct {
	cred, issuance string
	key            *jose.ClientKey
}

// issuePID issues a PID to the citizen through the pre-authorized flow,
// bound to a key the test holds.
func (e *env) issuePID(citizenID string) holder {
	e.t.Helper()
	_, offer := e.offer(e.token(demo.MachineID, scopes.Issuance), e.loggedInAt(demo.MachineID, citizenID), "pid")
	_, code := e.offerCode(offer)
	w, st, _ := e.redeem(code, offer["tx_code"].(string))
	if st != http.StatusOK {
		e.t.Fatalf("redeem: %d", st)
	}
	_, nonce, _ := w.post("/vci/nonce", nil, map[string]any{})
	ks, proofs := e.proofs(1, nonce["c_nonce"].(string))
	st, resp, _ := w.post("/vci/credential", nil, map[string]any{"credential_configuration_id": "pid", "proofs": map[string]any{"jwt": proofs}})
	if st != http.StatusOK {
		e.t.Fatalf("credential: %d %v", st, resp)
	}
	return holder{cred: resp["credentials"].([]any)[0].(map[string]any)["credential"].(string), issuance: offer["credential_id"].(string), key: ks[0]}
}

// request is an open presentation request as a wallet reads it.
type request struct {
	id, nonce, state, responseURI string
	encKey                        json.RawMessage
}

// newRequest has the agency ask for given_name and age_over_18 under
// purpose, with mode, and reads the request object as a wallet would.
func (e *env) newRequest(agency, purpose, mode string) request {
	e.t.Helper()
	st, v, out := e.verification(http.MethodPost, "/verification/requests", agency,
		fmt.Sprintf(`{"purpose":%q,"response_mode":%q,"dcql_query":`+identityQuery+`}`, purpose, mode, e.url))
	if st != http.StatusCreated {
		e.t.Fatalf("create: %d %v", st, out)
	}
	code, obj, _ := e.get(strings.TrimPrefix(v.RequestURI, e.url), "")
	if code != http.StatusOK {
		e.t.Fatalf("request object: %d %s", code, obj)
	}
	raw, err := jose.UnverifiedPayload(obj)
	if err != nil {
		e.t.Fatal(err)
	}
	var p struct {
		Nonce, State string
		ResponseURI  string `json:"response_uri"`
		MD           struct {
			JWKS struct{ Keys []json.RawMessage } `json:"jwks"`
		} `json:"client_metadata"`
	}
	json.Unmarshal(raw, &p)
	r := request{id: v.ID, nonce: p.Nonce, state: p.State, responseURI: p.ResponseURI}
	if len(p.MD.JWKS.Keys) > 0 {
		r.encKey = p.MD.JWKS.Keys[0]
	}
	return r
}

// present makes a presentation of h disclosing names, bound by a
// KB-JWT to aud and nonce made at iat with key (h's when nil); mut
// changes the KB-JWT's claims first.
func present(t *testing.T, h holder, names []string, aud, nonce string, iat time.Time, key *jose.ClientKey, mut func(map[string]any)) string {
	t.Helper()
	p, err := sdjwt.Parse(h.cred)
	if err != nil {
		t.Fatal(err)
	}
	var ds []sdjwt.Disclosure
	for _, d := range p.Disclosures {
		for _, n := range names {
			if d.Name == n {
				ds = append(ds, d)
			}
		}
	}
	sd := sdjwt.Serialize(p.JWT, ds, "")
	if key == nil {
		key = h.key
	}
	claims := map[string]any{"aud": aud, "nonce": nonce, "iat": iat.Unix(), "sd_hash": sdjwt.SDHash(sd)}
	if mut != nil {
		mut(claims)
	}
	input, err := jose.SigningInput(map[string]any{"alg": "ES256", "typ": "kb+jwt"}, claims)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := key.SignInput(input)
	if err != nil {
		t.Fatal(err)
	}
	return sd + kb
}

// answer posts a form to a response URI and returns the status and the
// OAuth error.
func answer(t *testing.T, uri string, form url.Values) (int, string) {
	t.Helper()
	res, err := http.PostForm(uri, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out struct{ Error string }
	json.Unmarshal(b, &out)
	return res.StatusCode, out.Error
}

func vpToken(t *testing.T, presentations ...string) string {
	b, _ := json.Marshal(map[string][]string{"pid": presentations})
	return string(b)
}

// TestVerifierRefuses: a holder written here answers requests with
// presentations of our issuer's credentials, good and bad. Each bad one
// fails the request with its reason for the agency, an OAuth error for
// the wallet and an entry in the log; a good one is verified once, and
// only the claims asked reach the agency, even when more are disclosed.
func TestVerifierRefuses(t *testing.T) {
	e := newIssuerEnv(t)
	ctx := context.Background()
	e.agency(demo.MachineID, scopes.Issuance, scopes.Verification)
	agency := e.token(demo.MachineID, scopes.Verification)
	ana := e.citizen("Ana")
	good, suspended, revoked := e.issuePID(ana), e.issuePID(ana), e.issuePID(ana)
	issuance := e.token(demo.MachineID, scopes.Issuance)
	for id, status := range map[string]string{suspended.issuance: "suspended", revoked.issuance: "invalid"} {
		if res, out := e.do(http.MethodPut, "/issuance/credentials/"+id+"/status", issuance, fmt.Sprintf(`{"status":%q}`, status)); res.StatusCode != http.StatusOK {
			t.Fatalf("status %s: %d %v", status, res.StatusCode, out)
		}
	}
	if err := e.s.Consent.Agree(ctx, ana, demo.MachineID, []string{demo.IdentityCheckPurposeID}, consent.MethodWeb); err != nil {
		t.Fatal(err)
	}
	aud := e.s.Verifier.ClientID()
	other, _ := jose.NewClientKey(keys.ES256)
	now := time.Now()
	asked := []string{"given_name", "age_over_18"}

	// A foreign issuer's PID: trust is checked before anything is fetched.
	ks, err := localkeys.Open(t.TempDir()+"/ks.json", localkeys.WithKEK(make([]byte, localkeys.KEKSize)))
	if err != nil {
		t.Fatal(err)
	}
	fk, _ := ks.Active(ctx, "foreign", keys.ES256)
	types, _ := credential.Demo()
	pidType := types[0]
	pidType.VCT = e.url + pidType.VCT
	jwk, _ := good.key.PublicJWK()
	foreignCred, _, err := credential.Issue(ctx, fk, credential.Request{Issuer: "https://issuer.example", Type: pidType, Holder: jwk, Now: now,
		Claims: map[string]any{"given_name": "Ana", "family_name": "Test", "birthdate": "1980-01-02", "age_over_18": true,
			"issuing_authority": "X", "issuing_country": "ES"}, Status: &statuslist.Reference{URI: "https://issuer.example/s/1", Index: 1}})
	if err != nil {
		t.Fatal(err)
	}
	foreign := holder{cred: foreignCred, key: good.key}

	tamper := func(p string) string {
		parts := strings.Split(p, "~")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var d []any
		json.Unmarshal(raw, &d)
		d[2] = "Mallory"
		b, _ := json.Marshal(d)
		parts[1] = base64.RawURLEncoding.EncodeToString(b)
		return strings.Join(parts, "~")
	}
	for _, tc := range []struct {
		name   string
		form   func(r request) url.Values
		reason string
	}{
		{"tampered disclosure", func(r request) url.Values {
			return url.Values{"state": {r.state}, "vp_token": {vpToken(t, tamper(present(t, good, asked, aud, r.nonce, now, nil, nil)))}}
		}, "disclosure"},
		{"disclosure not referenced", func(r request) url.Values {
			p := present(t, good, asked, aud, r.nonce, now, nil, nil)
			i := strings.IndexByte(p, '~')
			extra := base64.RawURLEncoding.EncodeToString([]byte(`["c2FsdHNhbHRzYWx0","given_name","Mallory"]`))
			return url.Values{"state": {r.state}, "vp_token": {vpToken(t, p[:i+1]+extra+p[i:])}}
		}, "disclosure"},
		{"no key binding", func(r request) url.Values {
			p := present(t, good, asked, aud, r.nonce, now, nil, nil)
			return url.Values{"state": {r.state}, "vp_token": {vpToken(t, p[:strings.LastIndexByte(p, '~')+1])}}
		}, "key_binding"},
		{"key binding by another key", func(r request) url.Values {
			return url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, good, asked, aud, r.nonce, now, other, nil))}}
		}, "key_binding"},
		{"wrong nonce", func(r request) url.Values {
			return url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, good, asked, aud, "another-nonce", now, nil, nil))}}
		}, "nonce"},
		{"wrong aud", func(r request) url.Values {
			return url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, good, asked, "x509_san_dns:elsewhere.example", r.nonce, now, nil, nil))}}
		}, "audience"},
		{"stale key binding", func(r request) url.Values {
			return url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, good, asked, aud, r.nonce, now.Add(-20*time.Minute), nil, nil))}}
		}, "stale"},
		{"suspended", func(r request) url.Values {
			return url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, suspended, asked, aud, r.nonce, now, nil, nil))}}
		}, "suspended"},
		{"revoked", func(r request) url.Values {
			return url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, revoked, asked, aud, r.nonce, now, nil, nil))}}
		}, "revoked"},
		{"issuer not trusted for the type", func(r request) url.Values {
			return url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, foreign, asked, aud, r.nonce, now, nil, nil))}}
		}, "untrusted_issuer"},
		{"vp_token not JSON", func(r request) url.Values {
			return url.Values{"state": {r.state}, "vp_token": {"pid=abc"}}
		}, "malformed"},
		{"no vp_token", func(r request) url.Values { return url.Values{"state": {r.state}} }, "malformed"},
		{"an answer to no query", func(r request) url.Values {
			b, _ := json.Marshal(map[string][]string{"other": {present(t, good, asked, aud, r.nonce, now, nil, nil)}})
			return url.Values{"state": {r.state}, "vp_token": {string(b)}}
		}, "not_answered"},
		{"a claim the query needs left out", func(r request) url.Values {
			return url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, good, []string{"given_name"}, aud, r.nonce, now, nil, nil))}}
		}, "not_answered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.newRequest(agency, demo.IdentityCheckPurposeID, verifier.ModeDirectPost)
			st, code := answer(t, r.responseURI, tc.form(r))
			if st != http.StatusBadRequest || code != "invalid_request" {
				t.Errorf("the wallet got %d %q, want 400 invalid_request", st, code)
			}
			_, v, out := e.verification(http.MethodGet, "/verification/requests/"+r.id, agency, "")
			if v.Status != "failed" || v.Failure == nil || v.Failure.Reason != tc.reason || v.Result != nil {
				t.Errorf("the agency sees %v, want failed for %s", out, tc.reason)
			}
			// Answered once: a good answer after a bad one is refused.
			if st, _ := answer(t, r.responseURI, url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, good, asked, aud, r.nonce, now, nil, nil))}}); st != http.StatusBadRequest {
				t.Errorf("a second answer: %d, want 400", st)
			}
		})
	}

	// A body that is not a form, or sends a parameter twice: refused as
	// OAuth errors, and the request still waits.
	r := e.newRequest(agency, demo.IdentityCheckPurposeID, verifier.ModeDirectPost)
	for _, tc := range []struct{ ct, body string }{
		{"application/json", `{"state":"` + r.state + `"}`},
		{"application/x-www-form-urlencoded", "state=" + r.state + "&state=" + r.state},
		{"application/x-www-form-urlencoded", "state=%zz"},
	} {
		res, err := http.Post(r.responseURI, tc.ct, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ Error string }
		json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || out.Error != "invalid_request" {
			t.Errorf("%s %q: %d %q, want 400 invalid_request", tc.ct, tc.body, res.StatusCode, out.Error)
		}
	}
	if _, v, _ := e.verification(http.MethodGet, "/verification/requests/"+r.id, agency, ""); v.Status != "fetched" {
		t.Errorf("after malformed bodies the request is %q, want fetched", v.Status)
	}
	if st, _ := answer(t, e.url+"/vp/responses/no-such-request", url.Values{"state": {"x"}}); st != http.StatusBadRequest {
		t.Errorf("an answer to no request: %d, want 400", st)
	}

	// Unknown state: refused, and the request still waits.
	r = e.newRequest(agency, demo.IdentityCheckPurposeID, verifier.ModeDirectPost)
	if st, _ := answer(t, r.responseURI, url.Values{"state": {"not-the-state"}, "vp_token": {vpToken(t, present(t, good, asked, aud, r.nonce, now, nil, nil))}}); st != http.StatusBadRequest {
		t.Errorf("unknown state: %d, want 400", st)
	}
	if _, v, _ := e.verification(http.MethodGet, "/verification/requests/"+r.id, agency, ""); v.Status != "fetched" {
		t.Errorf("after an answer with an unknown state the request is %q, want fetched", v.Status)
	}
	// A good answer, disclosing more than asked: the agency gets what it
	// asked for. The same answer again is refused (replay), and so is the
	// same presentation at another request (its nonce).
	form := url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, good, append(asked, "family_name", "birthdate"), aud, r.nonce, now, nil, nil))}}
	if st, code := answer(t, r.responseURI, form); st != http.StatusOK {
		t.Fatalf("a good answer: %d %s", st, code)
	}
	_, v, out := e.verification(http.MethodGet, "/verification/requests/"+r.id, agency, "")
	if v.Status != "verified" || v.Result == nil || !reflect.DeepEqual(v.Result.Credentials[0].Claims, map[string]any{"given_name": "Ana", "age_over_18": true}) {
		t.Errorf("verified: %v, want given_name and age_over_18 alone", out)
	}
	if st, _ := answer(t, r.responseURI, form); st != http.StatusBadRequest {
		t.Errorf("the same answer again: %d, want 400", st)
	}
	r2 := e.newRequest(agency, demo.IdentityCheckPurposeID, verifier.ModeDirectPost)
	form.Set("state", r2.state)
	if st, _ := answer(t, r2.responseURI, form); st != http.StatusBadRequest {
		t.Errorf("a presentation made for another request: %d, want 400", st)
	}
	if _, v, _ := e.verification(http.MethodGet, "/verification/requests/"+r2.id, agency, ""); v.Failure == nil || v.Failure.Reason != "nonce" {
		t.Errorf("a presentation made for another request: %+v, want failed for nonce", v)
	}

	// direct_post.jwt: the answer encrypted to the request's key.
	r = e.newRequest(agency, demo.IdentityCheckPurposeID, verifier.ModeDirectPostJWT)
	payload, _ := json.Marshal(map[string]any{"state": r.state, "vp_token": map[string][]string{"pid": {present(t, good, asked, aud, r.nonce, now, nil, nil)}}})
	jwe, err := jose.EncryptTo(r.encKey, "A128GCM", payload)
	if err != nil {
		t.Fatal(err)
	}
	if st, code := answer(t, r.responseURI, url.Values{"vp_token": {vpToken(t, "x")}, "state": {r.state}}); st != http.StatusBadRequest || code != "invalid_request" {
		t.Errorf("a plain answer to a direct_post.jwt request: %d %s", st, code)
	}
	if st, code := answer(t, r.responseURI, url.Values{"response": {jwe}}); st != http.StatusOK {
		t.Errorf("an encrypted answer: %d %s", st, code)
	}
	if _, v, _ := e.verification(http.MethodGet, "/verification/requests/"+r.id, agency, ""); v.Status != "verified" {
		t.Errorf("an encrypted answer: %q, want verified", v.Status)
	}

	// The citizen declines: the request is declined.
	r = e.newRequest(agency, demo.IdentityCheckPurposeID, verifier.ModeDirectPost)
	if st, _ := answer(t, r.responseURI, url.Values{"state": {r.state}, "error": {"access_denied"}}); st != http.StatusOK {
		t.Errorf("a decline: %d, want 200", st)
	}
	if _, v, _ := e.verification(http.MethodGet, "/verification/requests/"+r.id, agency, ""); v.Status != "declined" {
		t.Errorf("a decline: %q", v.Status)
	}

	// An answer to a cancelled request: refused, and logged.
	r = e.newRequest(agency, demo.IdentityCheckPurposeID, verifier.ModeDirectPost)
	e.do(http.MethodDelete, "/verification/requests/"+r.id, agency, "")
	if st, _ := answer(t, r.responseURI, url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, good, asked, aud, r.nonce, now, nil, nil))}}); st != http.StatusBadRequest {
		t.Errorf("an answer to a cancelled request: %d, want 400", st)
	}

	// Ana withdraws her consent: the ledger denies, the agency is told,
	// the log shows the denial.
	if _, err := e.s.Consent.Withdraw(ctx, consent.Request{Subject: ana, Purpose: demo.IdentityCheckPurposeID, Method: consent.MethodWeb}); err != nil {
		t.Fatal(err)
	}
	r = e.newRequest(agency, demo.IdentityCheckPurposeID, verifier.ModeDirectPost)
	if st, _ := answer(t, r.responseURI, url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, good, asked, aud, r.nonce, now, nil, nil))}}); st != http.StatusBadRequest {
		t.Errorf("after the withdrawal: %d, want 400", st)
	}
	if _, v, _ := e.verification(http.MethodGet, "/verification/requests/"+r.id, agency, ""); v.Failure == nil || v.Failure.Reason != verifier.ReasonDenied {
		t.Errorf("after the withdrawal the agency sees %+v, want consent_denied", v)
	}

	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _, err := e.s.Audit.EntriesAbout(ctx, e.s.AuditSubject(ana), 0, audit.MaxEntries)
	if err != nil {
		t.Fatal(err)
	}
	var deniedDecision, deniedPresent bool
	for _, rec := range recs {
		en, _ := rec.Entry()
		deniedDecision = deniedDecision || en.Action == consent.ActionDecide && en.Outcome == audit.Denied && en.Purpose == "dpv:IdentityVerification"
		deniedPresent = deniedPresent || en.Action == verifier.ActionPresent+"."+verifier.ReasonDenied && en.Outcome == audit.Denied
	}
	if !deniedDecision || !deniedPresent {
		t.Errorf("the log about Ana: a denied decision %v, a denied presentation %v; want both", deniedDecision, deniedPresent)
	}
	// Every failure is in the log, under its reason; those before the
	// holder was known have no subject.
	for reason, want := range map[string]int{"cancelled": 1, "disclosure": 2, "key_binding": 2, "nonce": 2, "untrusted_issuer": 1, "malformed": 2} {
		found, _, err := e.s.Audit.Search(ctx, audit.Query{Action: verifier.ActionPresent + "." + reason, Limit: 200})
		if err != nil || len(found) != want {
			t.Errorf("entries of failures for %s: %d, want %d (%v)", reason, len(found), want, err)
		}
	}
}

// TestVerifierWebhook: the agency registers a webhook that fails at
// first; a verified presentation's notice reaches it on a retry, signed
// with a key /verification/keys publishes, with the same jti each time,
// for this agency, carrying the request as the API shows it.
func TestVerifierWebhook(t *testing.T) {
	e := newIssuerEnv(t)
	ctx := context.Background()
	e.agency(demo.MachineID, scopes.Issuance, scopes.Verification)
	agency := e.token(demo.MachineID, scopes.Verification)
	ana := e.citizen("Ana")
	good := e.issuePID(ana)
	if err := e.s.Consent.Agree(ctx, ana, demo.MachineID, []string{demo.IdentityCheckPurposeID}, consent.MethodWeb); err != nil {
		t.Fatal(err)
	}

	got := make(chan []byte, 4)
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/jwt" {
			t.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		got <- b
		if calls++; calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer hook.Close()
	for _, tc := range []struct {
		url    string
		status int
	}{{"ftp://example.org/x", 400}, {"https://user:pw@example.org/x", 400}, {hook.URL + "/notices", 200}} {
		if res, out := e.do(http.MethodPut, "/verification/webhook", agency, fmt.Sprintf(`{"url":%q}`, tc.url)); res.StatusCode != tc.status {
			t.Errorf("webhook %s: %d %v, want %d", tc.url, res.StatusCode, out, tc.status)
		}
	}
	if res, out := e.do(http.MethodGet, "/verification/webhook", agency, ""); res.StatusCode != 200 || out["url"] != hook.URL+"/notices" {
		t.Errorf("webhook: %d %v", res.StatusCode, out)
	}

	r := e.newRequest(agency, demo.IdentityCheckPurposeID, verifier.ModeDirectPost)
	form := url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, good, []string{"given_name", "age_over_18"}, e.s.Verifier.ClientID(), r.nonce, time.Now(), nil, nil))}}
	if st, code := answer(t, r.responseURI, form); st != http.StatusOK {
		t.Fatalf("answer: %d %s", st, code)
	}
	var bodies [][]byte
	for len(bodies) < 2 {
		select {
		case b := <-got:
			bodies = append(bodies, b)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d notices came, want a failed one and its retry", len(bodies))
		}
	}
	code, jwks, _ := e.get("/verification/keys", "")
	if code != http.StatusOK {
		t.Fatalf("keys: %d", code)
	}
	var jtis []string
	for _, b := range bodies {
		payload, err := jose.Verify(b, jwks, keys.ES256)
		if err != nil {
			t.Fatalf("the notice does not verify with the published keys: %v", err)
		}
		var n struct {
			Iss, Aud, JTI string
			Request       struct {
				ID     string
				Status string
				Result *verifier.Result
			}
		}
		json.Unmarshal(payload, &n)
		if n.Iss != e.url || n.Aud != demo.MachineID || n.Request.ID != r.id || n.Request.Status != "verified" || n.Request.Result == nil ||
			!reflect.DeepEqual(n.Request.Result.Credentials[0].Claims, map[string]any{"given_name": "Ana", "age_over_18": true}) {
			t.Errorf("notice: %s", payload)
		}
		if hdr, _ := jose.Header(b); hdr["typ"] != verifier.NoticeType {
			t.Errorf("typ %v", hdr["typ"])
		}
		jtis = append(jtis, n.JTI)
	}
	if jtis[0] == "" || jtis[0] != jtis[1] {
		t.Errorf("jti %q then %q, want one notice's", jtis[0], jtis[1])
	}
	select {
	case <-got:
		t.Error("a notice came again after the webhook took it")
	case <-time.After(3 * time.Second):
	}
}

// TestVerifierAcrossReplicas: two replicas on one PostgreSQL (one secret):
// the agency asks and the wallet answers on A, the agency reads the
// result through either (sealed under a key both derive), an answer
// repeated at B is refused, and the webhook — which both replicas'
// workers deliver — receives the notice once. (The test's replicas have
// different public URLs, so the wallet answers where the request says;
// behind one URL any replica takes the answer.)
func TestVerifierAcrossReplicas(t *testing.T) {
	rs := replicas(t, 2, scopes.Issuance, scopes.Verification)
	a, b := rs[0], rs[1]
	ctx := context.Background()
	ana := a.citizen("Ana")
	good := a.issuePID(ana)
	if err := a.s.Consent.Agree(ctx, ana, demo.MachineID, []string{demo.IdentityCheckPurposeID}, consent.MethodWeb); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	hits := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
	}))
	defer hook.Close()
	agency := a.token(demo.MachineID, scopes.Verification)
	if res, out := a.do(http.MethodPut, "/verification/webhook", agency, fmt.Sprintf(`{"url":%q}`, hook.URL)); res.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %d %v", res.StatusCode, out)
	}

	r := a.newRequest(agency, demo.IdentityCheckPurposeID, verifier.ModeDirectPost)
	form := url.Values{"state": {r.state}, "vp_token": {vpToken(t, present(t, good, []string{"given_name", "age_over_18"}, a.s.Verifier.ClientID(), r.nonce, time.Now(), nil, nil))}}
	if st, code := answer(t, r.responseURI, form); st != http.StatusOK {
		t.Fatalf("the answer: %d %s", st, code)
	}
	for _, e := range []*env{a, b} {
		_, v, out := e.verification(http.MethodGet, "/verification/requests/"+r.id, e.token(demo.MachineID, scopes.Verification), "")
		if v.Status != "verified" || v.Result == nil || v.Result.Credentials[0].Claims["given_name"] != "Ana" {
			t.Errorf("the result through %s: %v", e.url, out)
		}
	}
	// The answer again, at B: refused.
	if st, _ := answer(t, b.url+"/vp/responses/"+r.id, form); st != http.StatusBadRequest {
		t.Errorf("the same answer at B: %d, want 400", st)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		n := hits
		mu.Unlock()
		if n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no notice reached the webhook")
		}
	}
	time.Sleep(5 * time.Second) // both replicas' workers poll every 2 s
	mu.Lock()
	defer mu.Unlock()
	if hits != 1 {
		t.Errorf("the webhook got %d notices, want 1", hits)
	}
}
