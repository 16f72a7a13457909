package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/rptest"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/verifier"
	cwallet "github.com/cedula/cedula/wallet"
)

// bridgeClaims asks for given_name and age_over_18 in the ID token, with
// the verification's trust framework, time and evidence, and for
// family_name at userinfo with the trust framework alone.
const bridgeClaims = `{"id_token":{"verified_claims":{"verification":{"trust_framework":null,"time":null,
 "evidence":[{"type":{"value":"electronic_record"},"check_details":null,"record":{"type":null,"source":{"name":null}}}]},
 "claims":{"given_name":null,"age_over_18":{"essential":true}}}},
 "userinfo":{"verified_claims":{"verification":{"trust_framework":null},"claims":{"family_name":null}}}}`

// bridgeAgency is the demo agency's web site as an agency would build it
// (rptest: coreos/go-oidc), asking under its sign-in purpose and its
// verified sign-in purpose.
func (e *env) bridgeAgency() *rptest.RelyingParty {
	e.t.Helper()
	ctx := context.Background()
	rp := rptest.New(e.t, e.url, demo.ClientID, oidcop.PurposeScope+demo.PurposeID, oidcop.PurposeScope+demo.VerifiedSignInPurposeID)
	if err := e.s.Store.PutClient(ctx, issuer.Client{ID: demo.ClientID, Name: "Agencia de demostración", RedirectURIs: []string{rp.URL + "/cb", e.url + "/demo/callback"},
		GrantTypes: []string{issuer.GrantAuthorizationCode}, AuthMethod: issuer.AuthNone, SubjectType: issuer.SubjectPairwise}); err != nil {
		e.t.Fatal(err)
	}
	return rp
}

// consentVisit is what a browser saw of the consent page, and what it
// answers.
type consentVisit struct {
	body  string
	again []string // purpose scopes ticked to give again
}

// browseToAgency has a browser logged in with cookie start a login at the
// agency and allow it on the consent page (check sees the page first);
// it returns once the agency's callback has been served.
func (e *env) browseToAgency(start, cookie string, check func(v *consentVisit)) string {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(e.url)
	jar.SetCookies(base, []*http.Cookie{{Name: pages.SessionCookie, Value: cookie}})
	browser := &http.Client{Jar: jar}
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	res, err := browser.Get(start)
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.Request.URL.Path != "/consent" {
		e.t.Fatalf("the browser is at %s (%d), not the consent page: %.300s", res.Request.URL, res.StatusCode, body)
	}
	v := &consentVisit{body: string(body)}
	if check != nil {
		check(v)
	}
	m := csrf.FindSubmatch(body)
	if m == nil {
		e.t.Fatalf("the consent page has no form: %s", body)
	}
	form := url.Values{"csrf_token": {string(m[1])}, "authRequestID": {res.Request.URL.Query().Get("authRequestID")}, "decision": {"approve"},
		"again": v.again}
	res, err = browser.PostForm(e.url+"/consent", form)
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("after the consent page the browser is at %s (%d): %.300s", res.Request.URL, res.StatusCode, body)
	}
	return string(body)
}

// verifiedClaims returns the verified_claims of an ID token and of
// userinfo (nil where there are none).
func verifiedClaims(t *testing.T, r rptest.Result) (idToken, userinfo map[string]any) {
	t.Helper()
	var idt map[string]any
	if err := r.IDToken.Claims(&idt); err != nil {
		t.Fatal(err)
	}
	idToken, _ = idt["verified_claims"].(map[string]any)
	userinfo, _ = r.Claims["verified_claims"].(map[string]any)
	return idToken, userinfo
}

// TestBridge: the demo agency's web site, a plain OIDC client built on
// coreos/go-oidc, asks with the claims parameter for verified claims
// under its purpose; Ana sees on the consent page what it asks and from
// which credential, allows it; her wallet presents her PID to the
// verifier in the server, and the agency's ID token and userinfo carry
// verified_claims (OpenID Connect for Identity Assurance 1.0) with only
// what each asked — claims and verification elements — from our
// issuer's credential, status checked. Requests beyond the purpose or
// malformed are refused at the authorization endpoint; constraints the
// verification does not meet leave the element out; a verified scope
// asks for the type's registered claims. After Ana withdraws her
// consent, allowing the next login does not give it again: the agency
// gets no verified claims and the log holds the ledger's denial; ticking
// the box gives it again.
func TestBridge(t *testing.T) {
	t.Run("sqlite+local", func(t *testing.T) { bridgeFlow(t, newIssuerEnv(t)) })
	t.Run("postgres+vault", func(t *testing.T) { bridgeFlow(t, newIssuerEnvWith(t, postgresVault(t))) })
}

func bridgeFlow(t *testing.T, e *env) {
	ctx := context.Background()
	ana, api := e.walletCitizen("Ana")
	e.acceptPID(api, ana, "br-1", nil)
	cookie := e.session(ana)
	rp := e.bridgeAgency()

	// Discovery advertises the claims parameter and the bridge's metadata.
	_, disc := e.do(http.MethodGet, "/.well-known/openid-configuration", "", "")
	trustFramework := e.url + "/verification/trust-framework"
	if disc["claims_parameter_supported"] != true || !reflect.DeepEqual(disc["trust_frameworks_supported"], []any{trustFramework}) ||
		!reflect.DeepEqual(disc["evidence_supported"], []any{"electronic_record"}) || disc["verified_claims_supported"] != true ||
		!slices.Contains(asStrings(disc["claims_in_verified_claims_supported"]), "age_over_18") ||
		!slices.Contains(asStrings(disc["electronic_records_supported"]), e.url+"/vct/pid/1") {
		t.Errorf("discovery: %v", disc)
	}

	// 1. The claims parameter: the consent page says what is asked.
	rp.SetParam("claims", bridgeClaims)
	e.browseToAgency(rp.URL+"/start", cookie, func(v *consentVisit) {
		for _, want := range []string{"Datos comprobados con tu cartera", "Nombre", "Mayor de 18", "Apellidos"} {
			if !strings.Contains(v.body, want) {
				t.Errorf("the consent page does not say %q", want)
			}
		}
		if strings.Contains(v.body, "No tienes en tu cartera") || strings.Contains(v.body, `name="again"`) {
			t.Errorf("the consent page says the wallet cannot answer, or asks to give a consent again")
		}
	})
	first := rp.Result(t)
	idv, uiv := verifiedClaims(t, first)
	if idv == nil || uiv == nil {
		t.Fatalf("verified_claims: ID token %v, userinfo %v", idv, uiv)
	}
	if want := map[string]any{"given_name": "Ana", "age_over_18": true}; !reflect.DeepEqual(idv["claims"], want) {
		t.Errorf("ID token verified claims: %v, want only %v", idv["claims"], want)
	}
	ver, _ := idv["verification"].(map[string]any)
	ev, _ := ver["evidence"].([]any)
	if ver["trust_framework"] != trustFramework || ver["time"] == nil || len(ev) != 1 || ver["verification_process"] != nil {
		t.Fatalf("ID token verification: %v", ver)
	}
	e0, _ := ev[0].(map[string]any)
	record, _ := e0["record"].(map[string]any)
	checks, _ := e0["check_details"].([]any)
	if e0["type"] != "electronic_record" || !reflect.DeepEqual(record, map[string]any{"type": e.url + "/vct/pid/1", "source": map[string]any{"name": e.url}}) ||
		len(checks) != 2 {
		t.Errorf("evidence: %v, want the record's type and source only and two checks", e0)
	}
	for i, m := range []string{verifier.CheckCrypto, verifier.CheckData} {
		if c, _ := checks[i].(map[string]any); c == nil || c["check_method"] != m || c["time"] == nil {
			t.Errorf("check %d: %v, want %s with its time", i, checks[i], m)
		}
	}
	if want := map[string]any{"verification": map[string]any{"trust_framework": trustFramework}, "claims": map[string]any{"family_name": "Test"}}; !reflect.DeepEqual(uiv, want) {
		t.Errorf("userinfo verified_claims: %v, want %v", uiv, want)
	}
	// The wallet's history has the presentation; the log the ledger's
	// decision and the presentation, about Ana, by the agency.
	if hist, err := e.s.Wallet.Presentations(ctx, ana); err != nil || len(hist) != 1 || hist[0].Outcome != cwallet.OutcomeSent ||
		hist[0].Purpose != demo.VerifiedSignInPurposeID {
		t.Errorf("Ana's presentation history: %+v %v", hist, err)
	}
	decided := func(outcome audit.Outcome) int {
		t.Helper()
		if err := e.s.Audit.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		recs, _, err := e.s.Audit.EntriesAbout(ctx, e.s.AuditSubject(ana), 0, audit.MaxEntries)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			en, _ := r.Entry()
			if en.Action == consent.ActionDecide && en.Actor.ID == demo.ClientID && en.Purpose == "dpv:IdentityVerification" && en.Outcome == outcome {
				n++
			}
		}
		return n
	}
	if n := decided(audit.Allowed); n < 2 {
		t.Errorf("allowed decisions for the verified sign-in: %d, want the presentation's and the releases'", n)
	}

	// 2. Refused at the authorization endpoint, back to the agency.
	for _, tc := range []struct{ name, scope, claims string }{
		{"a claim the purpose does not register", "", `{"id_token":{"verified_claims":{"verification":{"trust_framework":null},"claims":{"personal_administrative_number":null}}}}`},
		{"no purpose", "openid", bridgeClaims},
		{"not JSON", "", `{"id_token":`},
		{"no verification", "", `{"id_token":{"verified_claims":{"claims":{"given_name":null}}}}`},
		{"a sub-claim", "", `{"id_token":{"verified_claims":{"verification":{"trust_framework":null},"claims":{"address":{"locality":null}}}}}`},
		{"evidence type by values", "", `{"id_token":{"verified_claims":{"verification":{"evidence":[{"type":{"values":["electronic_record"]}}]},"claims":{"given_name":null}}}}`},
		{"an empty array", "", `{"userinfo":{"verified_claims":[]}}`},
		{"an unknown type by scope", "openid purpose:" + demo.VerifiedSignInPurposeID + " verified:nothing", ""},
		{"another agency's purpose", "openid purpose:" + demo.IdentityCheckPurposeID, bridgeClaims},
	} {
		scope := tc.scope
		if scope == "" {
			scope = "openid purpose:" + demo.VerifiedSignInPurposeID
		}
		q := url.Values{"client_id": {demo.ClientID}, "redirect_uri": {rp.URL + "/cb"}, "response_type": {"code"}, "scope": {scope},
			"state": {"s1"}, "nonce": {"n1"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
		if tc.claims != "" {
			q.Set("claims", tc.claims)
		}
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest(http.MethodGet, e.url+"/authorize?"+q.Encode(), nil)
		req.Header.Set("Accept", "application/json")
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		loc, _ := url.Parse(res.Header.Get("Location"))
		got := ""
		if loc != nil && strings.HasPrefix(loc.String(), rp.URL) {
			got = loc.Query().Get("error")
		} else {
			var out map[string]any
			json.Unmarshal(b, &out)
			got, _ = out["error"].(string)
		}
		if got != "invalid_request" && !(tc.name == "another agency's purpose" && got == "invalid_scope") {
			t.Errorf("%s: %d %s %s, want invalid_request", tc.name, res.StatusCode, loc, b)
		}
	}

	// 3. Constraints the verification does not meet leave the element
	// out; a claim's does leave the claim out (IDA §5.7.4).
	rp.SetParam("claims", `{"id_token":{"verified_claims":[{"verification":{"trust_framework":{"value":"eidas"}},"claims":{"given_name":null}},
		{"verification":{"trust_framework":null},"claims":{"given_name":null,"age_over_18":{"value":false}}}]}}`)
	e.browseToAgency(rp.URL+"/start", cookie, nil)
	idv, uiv = verifiedClaims(t, rp.Result(t))
	if want := map[string]any{"verification": map[string]any{"trust_framework": trustFramework}, "claims": map[string]any{"given_name": "Ana"}}; !reflect.DeepEqual(idv, want) || uiv != nil {
		t.Errorf("with constraints: ID token %v, want %v; userinfo %v, want none", idv, want, uiv)
	}

	// 4. A verified scope asks, in both, for what the purpose registers.
	rp.SetParam("claims", "")
	rp.SetParam("scope", "openid profile email purpose:"+demo.PurposeID+" purpose:"+demo.VerifiedSignInPurposeID+" verified:pid")
	e.browseToAgency(rp.URL+"/start", cookie, nil)
	idv, uiv = verifiedClaims(t, rp.Result(t))
	want := map[string]any{"given_name": "Ana", "family_name": "Test", "birthdate": "1980-01-02", "age_over_18": true}
	if idv == nil || uiv == nil || !reflect.DeepEqual(idv["claims"], uiv["claims"]) || len(idv["claims"].(map[string]any)) != len(want) {
		t.Errorf("verified scope: ID token %v, userinfo %v, want the four registered claims in both", idv, uiv)
	}
	rp.SetParam("scope", "")

	// 5. Ana withdraws her consent. Allowing the next login does not give
	// it again: no verified claims, the ledger's denial in the log.
	if _, err := e.s.Consent.Withdraw(ctx, consent.Request{Subject: ana, Purpose: demo.VerifiedSignInPurposeID, Method: consent.MethodWeb}); err != nil {
		t.Fatal(err)
	}
	denied := decided(audit.Denied)
	rp.SetParam("claims", bridgeClaims)
	e.browseToAgency(rp.URL+"/start", cookie, func(v *consentVisit) {
		if !strings.Contains(v.body, `name="again" value="purpose:`+demo.VerifiedSignInPurposeID+`"`) {
			t.Errorf("the consent page does not offer to give the withdrawn consent again")
		}
	})
	idv, uiv = verifiedClaims(t, rp.Result(t))
	if idv != nil || uiv != nil {
		t.Errorf("after withdrawal: ID token %v, userinfo %v, want no verified claims", idv, uiv)
	}
	if rec, err := e.s.Consent.Record(ctx, ana, demo.VerifiedSignInPurposeID); err != nil || rec.State != consent.StateWithdrawn {
		t.Errorf("the record after a routine allow: %+v %v, want still withdrawn", rec, err)
	}
	if n := decided(audit.Denied); n <= denied {
		t.Errorf("denied decisions: %d before, %d after, want the bridge's denial", denied, n)
	}
	if hist, _ := e.s.Wallet.Presentations(ctx, ana); len(hist) != 3 {
		t.Errorf("Ana's history: %d presentations, want 3 (nothing presented after the withdrawal)", len(hist))
	}
	// Ticking the box gives it again.
	e.browseToAgency(rp.URL+"/start", cookie, func(v *consentVisit) { v.again = []string{"purpose:" + demo.VerifiedSignInPurposeID} })
	if idv, _ = verifiedClaims(t, rp.Result(t)); idv == nil {
		t.Error("after giving the consent again: no verified claims")
	}
	if rec, err := e.s.Consent.Record(ctx, ana, demo.VerifiedSignInPurposeID); err != nil || rec.State != consent.StateGiven {
		t.Errorf("the record after giving it again: %+v %v", rec, err)
	}

	// 6. The demo agency's own site asks the same way (/demo?verified=1).
	if page := e.browseToAgency(e.url+"/demo?verified=1", cookie, nil); !strings.Contains(page, "verified_claims.given_name</dt><dd>Ana") ||
		!strings.Contains(page, "verified_claims.age_over_18</dt><dd>true") {
		t.Errorf("the demo agency's page: %s", page)
	}

	// 7. Bob holds no PID: the page says so; he gets in without them.
	bob := e.citizen("Bob")
	e.browseToAgency(rp.URL+"/start", e.session(bob), func(v *consentVisit) {
		if !strings.Contains(v.body, "No tienes en tu cartera") {
			t.Errorf("the consent page does not say Bob's wallet cannot answer")
		}
	})
	if idv, uiv = verifiedClaims(t, rp.Result(t)); idv != nil || uiv != nil {
		t.Errorf("Bob: %v %v, want no verified claims", idv, uiv)
	}
}

func asStrings(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }
