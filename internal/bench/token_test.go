package bench

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
)

// fakeAS is an authorization server just real enough to check the token
// client: discovery, and a token endpoint that verifies each client
// assertion's signature, iss, sub, aud, exp and that its jti is new.
type fakeAS struct {
	t        testing.TB
	srv      *httptest.Server
	clientID string
	jwks     []byte
	wantAud  func(*fakeAS) any // the "aud" value the server accepts
	meta     map[string]any    // discovery overrides
	noToken  bool              // answer 200 without an access_token

	mu     sync.Mutex
	jtis   map[string]bool
	issued int
}

func newFakeAS(t testing.TB, clientID string, key *jose.ClientKey) *fakeAS {
	jwks, err := key.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	as := &fakeAS{t: t, clientID: clientID, jwks: jwks, jtis: map[string]bool{},
		wantAud: func(as *fakeAS) any { return as.srv.URL + "/oauth/token" }}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", as.discovery)
	mux.HandleFunc("POST /oauth/token", as.token)
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)
	return as
}

func (as *fakeAS) discovery(w http.ResponseWriter, _ *http.Request) {
	meta := map[string]any{
		"issuer":                                as.srv.URL,
		"token_endpoint":                        as.srv.URL + "/oauth/token",
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
		"grant_types_supported":                 []string{"authorization_code", "client_credentials"},
	}
	for k, v := range as.meta {
		if v == nil {
			delete(meta, k)
		} else {
			meta[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(meta)
}

func (as *fakeAS) fail(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (as *fakeAS) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		as.fail(w, "invalid_request", err.Error())
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_assertion_type") != clientAssertionType {
		as.fail(w, "invalid_request", "want client_credentials with a jwt-bearer client assertion")
		return
	}
	payload, err := jose.Verify([]byte(r.PostForm.Get("client_assertion")), as.jwks)
	if err != nil {
		as.fail(w, "invalid_client", "bad signature")
		return
	}
	var c struct {
		Iss, Sub, Jti string
		Aud           any
		Iat, Exp      int64
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		as.fail(w, "invalid_client", err.Error())
		return
	}
	now := time.Now().Unix()
	wantAud, _ := json.Marshal(as.wantAud(as))
	gotAud, _ := json.Marshal(c.Aud)
	switch {
	case c.Iss != as.clientID || c.Sub != as.clientID:
		as.fail(w, "invalid_client", fmt.Sprintf("iss %q sub %q", c.Iss, c.Sub))
		return
	case string(gotAud) != string(wantAud):
		as.fail(w, "invalid_client", fmt.Sprintf("aud %s, want %s", gotAud, wantAud))
		return
	case c.Exp < now || c.Exp-c.Iat > 300 || c.Iat > now+5:
		as.fail(w, "invalid_client", "stale assertion")
		return
	case c.Jti == "":
		as.fail(w, "invalid_client", "no jti")
		return
	}
	as.mu.Lock()
	replay := as.jtis[c.Jti]
	as.jtis[c.Jti] = true
	as.issued++
	as.mu.Unlock()
	if replay {
		as.fail(w, "invalid_client", "jti replayed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if as.noToken {
		_, _ = w.Write([]byte(`{"token_type":"Bearer"}`))
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": base64.RawURLEncoding.EncodeToString(b), "token_type": "Bearer", "expires_in": 300})
}

func newClientKey(t testing.TB, alg keys.Alg) *jose.ClientKey {
	t.Helper()
	k, err := jose.NewClientKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTokenClientRequest(t *testing.T) {
	tests := []struct {
		alg     keys.Alg
		aud     Audience
		wantAud func(*fakeAS) any
	}{
		{keys.ES256, "", func(as *fakeAS) any { return as.srv.URL + "/oauth/token" }},
		{keys.ES256, AudIssuer, func(as *fakeAS) any { return as.srv.URL }},
		{keys.ES256, AudBoth, func(as *fakeAS) any { return []string{as.srv.URL, as.srv.URL + "/oauth/token"} }},
		{keys.EdDSA, AudTokenEndpoint, func(as *fakeAS) any { return as.srv.URL + "/oauth/token" }},
		{keys.RS256, AudTokenEndpoint, func(as *fakeAS) any { return as.srv.URL + "/oauth/token" }},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s", tc.alg, tc.aud), func(t *testing.T) {
			key := newClientKey(t, tc.alg)
			as := newFakeAS(t, "agency-1", key)
			as.wantAud = tc.wantAud
			c, err := NewTokenClient(t.Context(), TokenConfig{Issuer: as.srv.URL, ClientID: "agency-1", Key: key, Audience: tc.aud, HTTP: NewHTTPClient(1)})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.TokenEndpoint(), as.srv.URL+"/oauth/token"; got != want {
				t.Errorf("TokenEndpoint() = %q, want %q", got, want)
			}
			for range 3 {
				if err := c.Request(t.Context()); err != nil {
					t.Fatalf("Request: %v", err)
				}
			}
			if got, want := len(as.jtis), 3; got != want {
				t.Errorf("server saw %d distinct jti, want %d", got, want)
			}
		})
	}
}

func TestTokenClientUnderLoad(t *testing.T) {
	key := newClientKey(t, keys.ES256)
	as := newFakeAS(t, "agency-1", key)
	hc := NewHTTPClient(8)
	c, err := NewTokenClient(t.Context(), TokenConfig{Issuer: as.srv.URL, ClientID: "agency-1", Key: key, HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(t.Context(), Options{Name: "token", Concurrency: 8, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond}, c.Request)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Ops == 0 {
		t.Errorf("got %d ops, %d errors (first: %s); want some ops and no errors", res.Ops, res.Errors, res.FirstError)
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if int64(as.issued) < res.Ops {
		t.Errorf("server issued %d tokens, fewer than the %d ops counted", as.issued, res.Ops)
	}
	if len(as.jtis) != as.issued {
		t.Errorf("server saw %d requests with %d distinct jti, want every jti new", as.issued, len(as.jtis))
	}
}

func TestTokenClientErrors(t *testing.T) {
	key := newClientKey(t, keys.ES256)
	tests := []struct {
		name    string
		setup   func(as *fakeAS)
		key     *jose.ClientKey
		wantNew string // error from NewTokenClient
		wantReq string // error from Request
	}{
		{name: "unregistered key", key: newClientKey(t, keys.ES256), wantReq: "status 401"},
		{name: "wrong audience", setup: func(as *fakeAS) { as.wantAud = func(as *fakeAS) any { return as.srv.URL } }, wantReq: "invalid_client"},
		{name: "no access token", setup: func(as *fakeAS) { as.noToken = true }, wantReq: "without an access_token"},
		{name: "no token endpoint", setup: func(as *fakeAS) { as.meta = map[string]any{"token_endpoint": nil} }, wantNew: "no valid token_endpoint"},
		{name: "no private_key_jwt", setup: func(as *fakeAS) {
			as.meta = map[string]any{"token_endpoint_auth_methods_supported": []string{"client_secret_basic"}}
		}, wantNew: "lacks private_key_jwt"},
		{name: "no client_credentials", setup: func(as *fakeAS) {
			as.meta = map[string]any{"grant_types_supported": []string{"authorization_code"}}
		}, wantNew: "lacks client_credentials"},
		{name: "alg not offered", setup: func(as *fakeAS) {
			as.meta = map[string]any{"token_endpoint_auth_signing_alg_values_supported": []string{"RS256"}}
		}, wantNew: "lacks the key's ES256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			as := newFakeAS(t, "agency-1", key)
			if tc.setup != nil {
				tc.setup(as)
			}
			k := key
			if tc.key != nil {
				k = tc.key
			}
			c, err := NewTokenClient(t.Context(), TokenConfig{Issuer: as.srv.URL, ClientID: "agency-1", Key: k, HTTP: NewHTTPClient(1)})
			if tc.wantNew != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantNew) {
					t.Errorf("NewTokenClient: got error %v, want one containing %q", err, tc.wantNew)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Request(t.Context()); err == nil || !strings.Contains(err.Error(), tc.wantReq) {
				t.Errorf("Request: got error %v, want one containing %q", err, tc.wantReq)
			}
		})
	}
}

func TestTokenClientDiscoveryFailure(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := NewTokenClient(t.Context(), TokenConfig{Issuer: srv.URL + "/realm/", ClientID: "a", Key: newClientKey(t, keys.ES256), HTTP: srv.Client()})
	if want := srv.URL + "/realm/.well-known/openid-configuration: status 404"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got error %v, want one containing %q", err, want)
	}
	_, err = NewTokenClient(t.Context(), TokenConfig{Issuer: srv.URL, ClientID: "a", Key: newClientKey(t, keys.ES256), HTTP: srv.Client(), Audience: "nobody"})
	if want := `audience "nobody"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got error %v, want one rejecting the audience", err)
	}
}
