package oidcop_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
)

// FuzzClientAssertion sends arbitrary client assertions to the token
// endpoint: the answer is always a client error, never a 5xx, and never a
// token.
func FuzzClientAssertion(f *testing.F) {
	e := newEnv(f)
	good, _ := e.agentKey.SignAssertion(jose.ClientAssertion{ClientID: machine, Audience: []string{e.srv.URL}, IssuedAt: time.Now(), Expiry: time.Now().Add(time.Minute)})
	f.Add(good[:len(good)-3])
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJhZ2VuY3ktbWFjaGluZSIsInN1YiI6ImFnZW5jeS1tYWNoaW5lIn0.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, assertion string) {
		e := e.with(t)
		status, out := e.token(url.Values{"grant_type": {"client_credentials"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
		if status >= 500 || status == 200 || out["access_token"] != nil {
			t.Fatalf("assertion %q: status %d %v, want a 4xx error", assertion, status, out)
		}
	})
}

// FuzzDPoPHeader sends arbitrary DPoP headers with a refresh token request.
func FuzzDPoPHeader(f *testing.F) {
	e := newEnv(f)
	k, _ := jose.NewClientKey("ES256")
	p, _ := k.SignDPoP("POST", e.srv.URL+"/oauth/token", "", time.Now())
	f.Add(p)
	f.Add("")
	f.Fuzz(func(t *testing.T, proof string) {
		if !headerSafe(proof) {
			t.Skip("not sendable as an HTTP header value")
		}
		e := e.with(t)
		status, out := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {publicClient}, "refresh_token": {"x"}},
			map[string][]string{"Dpop": {proof}})
		if status >= 500 || status == 200 {
			t.Fatalf("proof %q: status %d %v, want a 4xx error", proof, status, out)
		}
	})
}

// with returns a copy of e reporting to t, for use inside a fuzz target.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// headerSafe reports whether v can travel as an HTTP header value.
func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzAccessToken presents arbitrary Authorization and DPoP headers at
// userinfo: never a 5xx, never a 200, and every refusal in its RFC form —
// 400, 401 or 403 with a WWW-Authenticate challenge (RFC 6750 §3, RFC 9449
// §7.1).
func FuzzAccessToken(f *testing.F) {
	e := newEnv(f)
	k, _ := jose.NewClientKey("ES256")
	p, _ := k.SignDPoP("GET", e.srv.URL+"/userinfo", "x", time.Now())
	f.Add("", "")
	f.Add("Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "")
	f.Add("DPoP AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", p)
	f.Add("Basic dXNlcjpwYXNz", "")
	f.Add("bearer ", "a.b.c")
	f.Fuzz(func(t *testing.T, auth, dpop string) {
		if !headerSafe(auth) || !headerSafe(dpop) {
			t.Skip("not sendable as an HTTP header value")
		}
		req, _ := http.NewRequest("GET", e.srv.URL+"/userinfo", nil)
		req.Header.Set("Authorization", auth)
		if dpop != "" {
			req.Header.Set("DPoP", dpop)
		}
		res, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		switch res.StatusCode {
		case 400, 401, 403:
		default:
			t.Fatalf("Authorization %q DPoP %q: status %d, want 400, 401 or 403", auth, dpop, res.StatusCode)
		}
		if res.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("Authorization %q DPoP %q: status %d without WWW-Authenticate", auth, dpop, res.StatusCode)
		}
	})
}
