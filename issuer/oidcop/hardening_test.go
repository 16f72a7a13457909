package oidcop_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer/oidcop"
)

// Regression tests for the protocol defects outside testers found (issue
// 9): each failed on the code before its fix.

// userinfoStatus calls userinfo with the header value auth and returns the
// status and the WWW-Authenticate challenge.
func (e *env) userinfoStatus(auth string, hdr http.Header) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/userinfo", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("WWW-Authenticate")
}

// TestCodeReuseRevokesEverything: RFC 6749 §4.1.2, RFC 9700 §4.2.4 — a
// second redemption of a code is refused and revokes every token the
// first one issued, access tokens included, also after a refresh. Before
// the fix the first access token stayed active at introspection and
// userinfo answered 200 with it.
func TestCodeReuseRevokesEverything(t *testing.T) {
	for _, offline := range []bool{true, false} {
		t.Run(map[bool]string{true: "with refresh token", false: "access token only"}[offline], func(t *testing.T) {
			e := newEnv(t)
			verifier, challenge := pkce()
			scopes := []string{"profile"}
			if offline {
				scopes = append(scopes, "offline_access")
			}
			code := e.authorize(codeRequest(webClient, "https://tax.example/cb", challenge, scopes...)).Query().Get("code")
			redeem := func() (int, map[string]any) {
				return e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://tax.example/cb"},
					"code_verifier": {verifier}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
					"client_assertion": {e.assertion(webClient)}})
			}
			status, first := redeem()
			if status != 200 {
				t.Fatalf("first redemption: %d %v", status, first)
			}
			access := []string{first["access_token"].(string)}
			refresh, _ := first["refresh_token"].(string)
			if offline {
				// A refresh before the replay: its tokens belong to the
				// code's grant too.
				status, out := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
					"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {e.assertion(webClient)}})
				if status != 200 {
					t.Fatalf("refresh: %d %v", status, out)
				}
				access = append(access, out["access_token"].(string))
				refresh = out["refresh_token"].(string)
			}
			for i, at := range access {
				if e.introspect(at)["active"] != true {
					t.Fatalf("access token %d before the replay: introspection inactive", i)
				}
			}
			if status, out := redeem(); status != 400 || out["error"] != "invalid_grant" {
				t.Fatalf("second redemption: %d %v, want 400 invalid_grant", status, out)
			}
			for i, at := range access {
				if got := e.introspect(at); got["active"] != false {
					t.Errorf("access token %d after the replay: introspection %v, want active false", i, got)
				}
				status, chal := e.userinfoStatus("Bearer "+at, nil)
				if status != 401 || !strings.Contains(chal, `error="invalid_token"`) {
					t.Errorf("access token %d after the replay: userinfo %d %q, want 401 invalid_token", i, status, chal)
				}
			}
			if offline {
				status, out := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
					"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {e.assertion(webClient)}})
				if status != 400 || out["error"] != "invalid_grant" {
					t.Errorf("refresh after the replay: %d %v, want 400 invalid_grant", status, out)
				}
			}
		})
	}
}

// TestDiscoveryAdvertisesOnlyWhatWorks: the code flow, the grants the
// token endpoint serves, iss in authorization responses (RFC 9207 §3),
// back-channel logout with sid, and PAR as configured.
func TestDiscoveryAdvertisesOnlyWhatWorks(t *testing.T) {
	e := newEnv(t)
	var d map[string]any
	res, err := http.Get(e.srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(res.Body).Decode(&d)
	res.Body.Close()
	list := func(k string) []string {
		var out []string
		for _, v := range d[k].([]any) {
			out = append(out, v.(string))
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		key  string
		want []string
	}{
		{"response_types_supported", []string{"code"}},
		{"grant_types_supported", []string{"authorization_code", "client_credentials", "refresh_token"}},
		{"response_modes_supported", []string{"fragment", "query"}},
	} {
		if got := list(tc.key); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.key, got, tc.want)
		}
	}
	for key, want := range map[string]any{
		"authorization_response_iss_parameter_supported": true,
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
		"require_pushed_authorization_requests":          false,
	} {
		if d[key] != want {
			t.Errorf("%s: got %v, want %v", key, d[key], want)
		}
	}
	for _, key := range []string{"device_authorization_endpoint", "check_session_iframe"} {
		if v, ok := d[key]; ok && v != "" {
			t.Errorf("%s: got %v, want it absent", key, v)
		}
	}
	// What is not advertised is refused.
	for _, rt := range []string{"id_token", "id_token token", "token"} {
		q := codeRequest(webClient, "https://tax.example/cb", "")
		q.Set("response_type", rt)
		back := e.authorize(q)
		if back.Query().Get("error") == "" && !strings.Contains(back.Fragment, "error=") {
			t.Errorf("response_type %q: got %s, want an error", rt, back)
		}
	}
	for _, g := range []string{"password", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:ietf:params:oauth:grant-type:device_code"} {
		_, out := e.token(url.Values{"grant_type": {g}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {e.assertion(webClient)}})
		if out["error"] != "unsupported_grant_type" {
			t.Errorf("grant %s: got %v, want unsupported_grant_type", g, out)
		}
	}
}

// TestIssInEveryAuthorizationResponse: RFC 9207 §2 — successes and errors,
// in the query or the fragment; form_post, which could not carry it, is
// refused.
func TestIssInEveryAuthorizationResponse(t *testing.T) {
	e := newEnv(t)
	_, challenge := pkce()
	check := func(name string, back *url.URL, inFragment bool, want string) {
		t.Helper()
		params := back.Query()
		if inFragment {
			params, _ = url.ParseQuery(back.Fragment)
		}
		if params.Get("iss") != e.srv.URL {
			t.Errorf("%s: iss = %q in %s, want %s", name, params.Get("iss"), back, e.srv.URL)
		}
		if params.Get(want) == "" || params.Get("state") != "st-1" {
			t.Errorf("%s: got %s, want %s and state st-1", name, back, want)
		}
	}
	check("code", e.authorize(codeRequest(publicClient, "http://127.0.0.1/cb", challenge)), false, "code")
	check("error (no PKCE)", e.authorize(codeRequest(publicClient, "http://127.0.0.1/cb", "")), false, "error")
	frag := codeRequest(publicClient, "http://127.0.0.1/cb", challenge)
	frag.Set("response_mode", "fragment")
	check("code in the fragment", e.authorize(frag), true, "code")
	post := codeRequest(publicClient, "http://127.0.0.1/cb", challenge)
	post.Set("response_mode", "form_post")
	back := e.authorize(post)
	check("form_post refused", back, false, "error")
	if back.Query().Get("error") != "invalid_request" {
		t.Errorf("form_post: error %q, want invalid_request", back.Query().Get("error"))
	}
	// The citizen declines at the consent screen.
	res, err := e.http.Get(e.srv.URL + "/authorize?" + codeRequest(webClient, "https://tax.example/cb", challenge).Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	denied, err := e.p.Deny(context.Background(), loc.Query().Get("authRequestID"))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(denied)
	check("access_denied", u, false, "error")
}

// TestRequirePAR: RFC 9126 §5 (server-wide) and §6 (per client).
func TestRequirePAR(t *testing.T) {
	e := newEnv(t)
	_, challenge := pkce()
	c, _ := e.store.Client(context.Background(), webClient)
	c.RequirePAR = true
	if err := e.store.PutClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	back := e.authorize(codeRequest(webClient, "https://tax.example/cb", challenge))
	if back.Query().Get("error") != "invalid_request" {
		t.Errorf("plain request of a PAR-only client: got %s, want invalid_request", back)
	}
	if back := e.authorize(codeRequest(publicClient, "http://127.0.0.1/cb", challenge)); back.Query().Get("code") == "" {
		t.Errorf("plain request of another client: got %s, want a code", back)
	}
	form := codeRequest(webClient, "https://tax.example/cb", challenge)
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", e.assertion(webClient))
	_, out := e.postForm("/oauth/par", form, nil)
	ru, _ := out["request_uri"].(string)
	if back := e.authorize(url.Values{"client_id": {webClient}, "request_uri": {ru}}); back.Query().Get("code") == "" {
		t.Errorf("pushed request of a PAR-only client: got %s, want a code", back)
	}

	all := newEnv(t, func(c *oidcop.Config) { c.RequirePAR = true })
	if back := all.authorize(codeRequest(publicClient, "http://127.0.0.1/cb", challenge)); back.Query().Get("error") != "invalid_request" {
		t.Errorf("plain request with PAR required for all: got %s, want invalid_request", back)
	}
	res, err := http.Get(all.srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	json.NewDecoder(res.Body).Decode(&d)
	res.Body.Close()
	if d["require_pushed_authorization_requests"] != true {
		t.Errorf("require_pushed_authorization_requests: got %v, want true", d["require_pushed_authorization_requests"])
	}
}

// TestUserinfoResourceErrors: RFC 6750 §3.1 and RFC 9449 §7.1 — every
// refused presentation is a 401 (400 for a malformed request, 403 for a
// missing scope) with its WWW-Authenticate challenge.
func TestUserinfoResourceErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	verifier, challenge := pkce()
	code := e.authorize(codeRequest(publicClient, "http://127.0.0.1/cb", challenge, "profile")).Query().Get("code")
	_, out := e.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {publicClient}, "code": {code},
		"redirect_uri": {"http://127.0.0.1/cb"}, "code_verifier": {verifier}})
	good, _ := out["access_token"].(string)
	code = e.authorize(codeRequest(publicClient, "http://127.0.0.1/cb", challenge, "profile")).Query().Get("code")
	_, out = e.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {publicClient}, "code": {code},
		"redirect_uri": {"http://127.0.0.1/cb"}, "code_verifier": {verifier}}, nil...)
	revoked, _ := out["access_token"].(string)
	if status, out := e.postForm("/revoke", url.Values{"token": {revoked}, "client_id": {publicClient}}, nil); status != 200 {
		t.Fatalf("revoke: %d %v", status, out)
	}
	_, out = e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"cedula:admin"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {e.assertion(machine)}})
	machineTok, _ := out["access_token"].(string)
	wallet, err := jose.NewClientKey(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	dpopProof := func(token string) http.Header {
		h := sha256.Sum256([]byte(token))
		p, err := wallet.SignDPoP("GET", e.srv.URL+"/userinfo", base64.RawURLEncoding.EncodeToString(h[:]), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Dpop": {p}}
	}
	code = e.authorize(codeRequest(publicClient, "http://127.0.0.1/cb", challenge)).Query().Get("code")
	tp, _ := wallet.SignDPoP("POST", e.srv.URL+"/oauth/token", "", time.Now())
	_, out = e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {publicClient}, "code": {code},
		"redirect_uri": {"http://127.0.0.1/cb"}, "code_verifier": {verifier}}, http.Header{"Dpop": {tp}})
	bound, _ := out["access_token"].(string)
	if good == "" || revoked == "" || machineTok == "" || bound == "" {
		t.Fatalf("set-up: tokens %q %q %q %q", good, revoked, machineTok, bound)
	}
	if _, err := e.p.AccessToken(ctx, revoked); err == nil {
		t.Fatal("set-up: the revoked token is still active")
	}
	for _, tc := range []struct {
		name      string
		auth      string
		hdr       http.Header
		status    int
		challenge string // expected in WWW-Authenticate
	}{
		{"no token", "", nil, 401, "Bearer realm"},
		{"unknown token", "Bearer bm90LWEtdG9rZW4", nil, 401, `Bearer realm="cedula", error="invalid_token"`},
		{"garbage", "Bearer a.b.c", nil, 401, `error="invalid_token"`},
		{"revoked token", "Bearer " + revoked, nil, 401, `error="invalid_token"`},
		{"machine token", "Bearer " + machineTok, nil, 403, `error="insufficient_scope"`},
		{"bound token as bearer", "Bearer " + bound, nil, 401, `DPoP error="invalid_token"`},
		{"bound token without proof", "DPoP " + bound, nil, 401, `DPoP error="invalid_dpop_proof"`},
		{"bearer token with a proof", "DPoP " + good, dpopProof(good), 401, `DPoP error="invalid_token"`},
		{"bound token with its proof", "DPoP " + bound, dpopProof(bound), 200, ""},
		{"good token", "Bearer " + good, nil, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, chal := e.userinfoStatus(tc.auth, tc.hdr)
			if status != tc.status || !strings.Contains(chal, tc.challenge) {
				t.Errorf("got %d %q, want %d with WWW-Authenticate containing %q", status, chal, tc.status, tc.challenge)
			}
		})
	}
	// RFC 6750 §2.2: the token in a form body; §2: never in two ways.
	if status, _ := e.postForm("/userinfo", url.Values{"access_token": {good}}, nil); status != 200 {
		t.Errorf("token in the body: status %d, want 200", status)
	}
	if status, _ := e.postForm("/userinfo", url.Values{"access_token": {good}}, http.Header{"Authorization": {"Bearer " + good}}); status != 400 {
		t.Errorf("token in the body and the header: status %d, want 400", status)
	}
}
