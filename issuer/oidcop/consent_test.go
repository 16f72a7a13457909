package oidcop_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/issuer/oidcop"
)

// webAccessToken runs the code flow for the web client with scopes and
// returns the access token and the scopes granted.
func (e *env) webAccessToken(scopes ...string) (string, []string) {
	e.t.Helper()
	verifier, challenge := pkce()
	redirect := "https://tax.example/cb"
	back := e.authorize(codeRequest(webClient, redirect, challenge, scopes...))
	status, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {redirect},
		"code_verifier": {verifier}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {e.assertion(webClient)}})
	at, _ := out["access_token"].(string)
	if status != 200 || at == "" {
		e.t.Fatalf("token: %d %v", status, out)
	}
	sc, _ := out["scope"].(string)
	return at, strings.Fields(sc)
}

// userinfo returns the claims userinfo gives for the token.
func (e *env) userinfo(token string) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != 200 {
		e.t.Fatalf("userinfo: %d %v", res.StatusCode, out)
	}
	return out
}

// decisions returns the consent decisions in the audit log since from.
func (e *env) decisions(t *testing.T, from int64) []audit.Entry {
	t.Helper()
	if err := e.audit.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	n, _ := e.audit.Size(t.Context())
	recs, err := e.audit.Entries(t.Context(), from, n)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for _, r := range recs {
		if en, _ := r.Entry(); en.Action == consent.ActionDecide {
			out = append(out, en)
		}
	}
	return out
}

// TestUserinfoFollowsTheLedger: userinfo releases the claims of profile and
// email only under a purpose of the client that the ledger allows — given
// on the consent screen, or resting on another legal basis — and stops the
// moment the consent is withdrawn; every decision is in the audit log.
func TestUserinfoFollowsTheLedger(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	pseudonym := audit.NewPseudonyms(make([]byte, 32)).Of(e.citizen.ID)

	start, _ := e.audit.Size(ctx)
	tok, granted := e.webAccessToken("profile", "email", oidcop.PurposeScope+taxPurpose)
	if !slices.Contains(granted, oidcop.PurposeScope+taxPurpose) {
		t.Fatalf("granted scopes %v lack the purpose", granted)
	}
	rec, err := e.consent.Record(ctx, e.citizen.ID, taxPurpose)
	if err != nil || rec.State != consent.StateGiven || rec.Method != consent.MethodWeb {
		t.Fatalf("after the consent screen: record %+v, %v; want given on the web", rec, err)
	}
	if got := e.userinfo(tok); got["email"] != e.citizen.Email || got["given_name"] != e.citizen.GivenName {
		t.Errorf("userinfo under a consent given: %v, want email and name", got)
	}
	ds := e.decisions(t, start)
	if len(ds) != 1 || ds[0].Outcome != audit.Allowed || ds[0].Subject != pseudonym || ds[0].Actor.ID != webClient {
		t.Errorf("decisions: %+v, want one allowed about the citizen, asked by the agency", ds)
	}

	// Withdrawn: the same token releases nothing more, and the denial is
	// recorded as a decision too.
	start, _ = e.audit.Size(ctx)
	if _, err := e.consent.Withdraw(ctx, consent.Request{Subject: e.citizen.ID, Purpose: taxPurpose, Method: consent.MethodWeb}); err != nil {
		t.Fatal(err)
	}
	if got := e.userinfo(tok); got["email"] != nil || got["name"] != nil || got["sub"] == nil {
		t.Errorf("userinfo after withdrawal: %v, want sub only", got)
	}
	if ds := e.decisions(t, start); len(ds) != 1 || ds[0].Outcome != audit.Denied {
		t.Errorf("decisions after withdrawal: %+v, want one denied", ds)
	}

	for _, tc := range []struct {
		name   string
		scopes []string
		again  []string
		want   bool
	}{
		{"no purpose named", []string{"profile", "email"}, nil, false},
		{"another client's purpose", []string{"profile", "email", oidcop.PurposeScope + loginPurpose}, nil, false},
		{"a purpose not in the registry", []string{"profile", "email", oidcop.PurposeScope + "nothing-such"}, nil, false},
		{"a public-task purpose", []string{"profile", "email", oidcop.PurposeScope + taskPurpose}, nil, true},
		// A withdrawn consent is not given again by allowing the login,
		// only when the citizen ticks it apart.
		{"withdrawn, allowed without giving it again", []string{"email", oidcop.PurposeScope + taxPurpose}, nil, false},
		{"consent given again on the screen", []string{"email", oidcop.PurposeScope + taxPurpose}, []string{taxPurpose}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.again = tc.again
			tok, granted := e.webAccessToken(tc.scopes...)
			for _, p := range oidcop.Purposes(granted) {
				if !e.consent.PurposeOf(ctx, webClient, p) {
					t.Errorf("granted scope %q names a purpose that is not the client's", oidcop.PurposeScope+p)
				}
			}
			got := e.userinfo(tok)
			if (got["email"] == e.citizen.Email) != tc.want {
				t.Errorf("userinfo %v: email released %v, want %v", got, got["email"] != nil, tc.want)
			}
		})
	}
}

// TestWithdrawalEndsTheGrant: with the server's effect wired in, a
// withdrawal revokes the agency's tokens before Withdraw returns:
// introspection says inactive, userinfo and refresh refuse them.
func TestWithdrawalEndsTheGrant(t *testing.T) {
	e := newEnv(t)
	e.endGrants = true
	ctx := t.Context()
	tok, _ := e.webAccessToken("profile", "email", oidcop.PurposeScope+taxPurpose)
	if got := e.introspect(tok); got["active"] != true {
		t.Fatalf("introspection before withdrawal: %v", got)
	}
	if _, err := e.consent.Withdraw(ctx, consent.Request{Subject: e.citizen.ID, Purpose: taxPurpose, Method: consent.MethodWeb}); err != nil {
		t.Fatal(err)
	}
	if got := e.introspect(tok); got["active"] != false {
		t.Errorf("introspection after withdrawal: %v, want inactive", got)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == 200 {
		t.Error("userinfo with the token after withdrawal: 200, want refused")
	}
}
