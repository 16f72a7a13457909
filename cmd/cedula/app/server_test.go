package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
)

type env struct {
	t   *testing.T
	s   *app.Server
	url string
	key *jose.ClientKey
}

// newEnv starts a whole server on SQLite in a temporary folder, with an
// admin client ("registrar") and a client without the admin scope.
func newEnv(t *testing.T) *env {
	t.Helper()
	s, url := startServer(t, nil)
	e := &env{t: t, s: s, url: url}
	e.key, _ = jose.NewClientKey(keys.ES256)
	jwks, _ := e.key.PublicJWKS()
	for id, scopes := range map[string][]string{"registrar": {app.AdminScope}, "plain": nil} {
		c := issuer.Client{ID: id, Name: id, GrantTypes: []string{issuer.GrantClientCredentials}, AuthMethod: issuer.AuthPrivateKeyJWT,
			JWKS: jwks, SubjectType: issuer.SubjectPairwise, Scopes: scopes}
		if err := s.Store.PutClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) token(clientID string, scope string) string {
	e.t.Helper()
	a, _ := e.key.SignAssertion(jose.ClientAssertion{ClientID: clientID, Audience: []string{e.url + "/oauth/token"}, IssuedAt: time.Now(), Expiry: time.Now().Add(time.Minute)})
	res, err := http.PostForm(e.url+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	tok, _ := out["access_token"].(string)
	if tok == "" {
		e.t.Fatalf("no token for %s: %v", clientID, out)
	}
	return tok
}

func (e *env) do(method, path, token, body string) (*http.Response, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return res, out
}

func TestAdminAPI(t *testing.T) {
	e := newEnv(t)
	admin := e.token("registrar", app.AdminScope)
	plain := e.token("plain", "")

	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
	}{
		{"no token", "POST", "/admin/citizens", "", `{}`, 401},
		{"unknown token", "POST", "/admin/citizens", "nope", `{}`, 401},
		{"no admin scope", "POST", "/admin/citizens", plain, `{"given_name":"A"}`, 403},
		{"malformed JSON", "POST", "/admin/citizens", admin, `{"given_name":`, 400},
		{"unknown field", "POST", "/admin/citizens", admin, `{"given_nam":"A"}`, 400},
		{"wrong type", "POST", "/admin/citizens", admin, `{"given_name":7}`, 400},
		{"invalid citizen", "POST", "/admin/citizens", admin, `{"given_name":"A","birthdate":"12/04/1990"}`, 400},
		{"unknown citizen to enrol", "POST", "/admin/enrolments", admin, `{"citizen_id":"nobody"}`, 404},
		{"client with a bad redirect", "POST", "/admin/clients", admin, `{"client_id":"x","client_name":"X","redirect_uris":["http://evil.example/cb"],"grant_types":["authorization_code"],"token_endpoint_auth_method":"none"}`, 400},
		{"client with a private JWKS", "POST", "/admin/clients", admin, `{"client_id":"x","client_name":"X","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"oct","k":"AAAA","kid":"k"}]}}`, 400},
		{"client sending its own secret", "POST", "/admin/clients", admin, `{"client_id":"x","client_name":"X","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","client_secret":"mine"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, out := e.do(tc.method, tc.path, tc.token, tc.body)
			if res.StatusCode != tc.status {
				t.Errorf("status %d %v, want %d", res.StatusCode, out, tc.status)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			if out["title"] == nil || out["status"] != float64(tc.status) {
				t.Errorf("problem %v lacks title or status %d (RFC 9457 §3.1)", out, tc.status)
			}
		})
	}

	res, out := e.do("POST", "/admin/citizens", admin, `{"given_name":"Ana","family_name":"García","birthdate":"1990-04-12","locale":"es"}`)
	id, _ := out["id"].(string)
	if res.StatusCode != 201 || id == "" {
		t.Fatalf("create citizen: %d %v", res.StatusCode, out)
	}
	res, out = e.do("POST", "/admin/enrolments", admin, `{"citizen_id":"`+id+`"}`)
	link, _ := out["link"].(string)
	if res.StatusCode != 201 || !strings.HasPrefix(link, e.url+"/enrol/") {
		t.Fatalf("enrol: %d %v, want a link under %s/enrol/", res.StatusCode, out, e.url)
	}
	page, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != 200 {
		t.Errorf("enrolment page: status %d, want 200", page.StatusCode)
	}

	res, out = e.do("POST", "/admin/clients", admin, `{"client_id":"agency","client_name":"Agencia","redirect_uris":["https://agency.example/cb"],"grant_types":["authorization_code","client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}`)
	secret, _ := out["client_secret"].(string)
	if res.StatusCode != 201 || len(secret) < 40 {
		t.Fatalf("create client: %d %v, want a generated secret", res.StatusCode, out)
	}
	c, err := e.s.Store.Client(context.Background(), "agency")
	if err != nil || !issuer.SecretMatches(c.SecretHash, secret) || strings.Contains(string(c.SecretHash), secret) {
		t.Errorf("stored client: %v; want only the secret's digest stored", err)
	}
	// The secret works at the token endpoint.
	req, _ := http.NewRequest("POST", e.url+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("agency", secret)
	tres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tres.Body.Close()
	if tres.StatusCode != 200 {
		t.Errorf("token with the generated secret: status %d, want 200", tres.StatusCode)
	}
	res, _ = e.do("GET", "/admin/clients", admin, "")
	if res.StatusCode != 200 {
		t.Errorf("list clients: status %d", res.StatusCode)
	}
}

// TestHealthAndMetrics: load balancers probe /healthz and /readyz on the
// public listener; /metrics and pprof are on the admin listener only, the
// public one answers them with 404 problems.
func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t)
	ops := httptest.NewServer(e.s.AdminHandler())
	defer ops.Close()
	get := func(base, path string) (int, string, http.Header) {
		t.Helper()
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	for _, base := range []string{e.url, ops.URL} {
		for _, c := range [][2]string{{"/healthz", "ok"}, {"/readyz", "ready"}} {
			if status, body, _ := get(base, c[0]); status != 200 || !strings.Contains(body, c[1]) {
				t.Errorf("GET %s%s: %d %q, want 200 containing %q", base, c[0], status, body, c[1])
			}
		}
	}
	if _, _, h := get(e.url, "/healthz"); h.Get("X-Request-ID") == "" {
		t.Errorf("GET /healthz: no X-Request-ID")
	}
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
		status, body, h := get(e.url, path)
		if status != 404 || h.Get("Content-Type") != "application/problem+json" {
			t.Errorf("public GET %s: %d %s %q, want a 404 problem", path, status, h.Get("Content-Type"), body)
		}
	}

	e.token("registrar", app.AdminScope)
	status, body, _ := get(ops.URL, "/metrics")
	for _, want := range []string{"cedula_http_requests_total", `cedula_tokens_issued_total{kind="client"} 1`} {
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("admin GET /metrics: %d, want 200 containing %q", status, want)
		}
	}
	if status, body, _ := get(ops.URL, "/debug/pprof/"); status != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("admin GET /debug/pprof/: %d, want the profile index", status)
	}
	if status, _, _ := get(ops.URL, "/debug/pprof/heap"); status != 200 {
		t.Errorf("admin GET /debug/pprof/heap: %d, want 200", status)
	}
	// The command line can carry a database URL with its password.
	if status, _, _ := get(ops.URL, "/debug/pprof/cmdline"); status != 404 {
		t.Errorf("admin GET /debug/pprof/cmdline: %d, want 404", status)
	}
	if status, _, h := get(ops.URL, "/admin/clients"); status != 404 || h.Get("Content-Type") != "application/problem+json" {
		t.Errorf("admin GET /admin/clients: %d, want a 404 problem: the admin listener serves operations only", status)
	}
}

// TestEveryRouteCounted: requests are counted by the template of the
// route they matched, whichever room mounted it — the log's own resources,
// PAR, the pages' subtrees and the OpenID provider included — and a 404
// from the log's API is still its route's, not "unmatched".
func TestEveryRouteCounted(t *testing.T) {
	e := newEnv(t)
	ops := httptest.NewServer(e.s.AdminHandler())
	defer ops.Close()
	for _, p := range []string{"/audit/checkpoint", "/audit/tile/0/000.p/1", "/audit/nothing", "/problems/not-found",
		"/.well-known/openid-configuration", "/oauth/par", "/dpo/audit/search", "/healthz", "/nowhere"} {
		res, err := http.Get(e.url + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	res, err := http.Get(ops.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, route := range []string{"/audit/checkpoint", "/audit/tile/*", "/audit/*", "/problems/*",
		"/.well-known/openid-configuration", "/oauth/par", "/dpo/audit/search", "/healthz", "unmatched"} {
		if !strings.Contains(string(b), `cedula_http_requests_total{code="`) ||
			!strings.Contains(string(b), `route="`+route+`"`) {
			t.Errorf("metrics: no counter for route %q", route)
		}
	}
}

// run runs s.Run until the test ends and returns the bound addresses.
func run(t *testing.T, s *app.Server) app.Addrs {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan app.Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(a app.Addrs) { addrs <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after ctx ended: got %v, want nil", err)
		}
	})
	select {
	case a := <-addrs:
		return a
	case err := <-done:
		t.Fatalf("Run: %v", err)
		return app.Addrs{}
	}
}

// TestRunServesBothListeners: Run binds the public and the admin address
// and serves each its own handler until ctx ends.
func TestRunServesBothListeners(t *testing.T) {
	s, _ := startServer(t, func(c *config.Config) { c.Listen, c.AdminListen = "127.0.0.1:0", "127.0.0.1:0" })
	a := run(t, s)
	for _, c := range []struct {
		addr, path string
		want       int
	}{
		{a.Public, "/metrics", 404}, {a.Public, "/healthz", 200}, {a.Admin, "/metrics", 200}, {a.Admin, "/readyz", 200},
	} {
		res, err := http.Get("http://" + c.addr + c.path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("GET http://%s%s: %d, want %d", c.addr, c.path, res.StatusCode, c.want)
		}
	}
}

// TestAdminListenerOffLoopback: an admin listener configured off loopback
// is served, with a warning in the log; a disabled one is not bound.
func TestAdminListenerOffLoopback(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "log.json")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "0.0.0.0:0"
	t.Setenv("CEDULA_KEK", strings.Repeat("cd", 32))
	s, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(f, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if a := run(t, s); a.Admin == "" {
		t.Fatalf("admin address: got none, want one bound on all interfaces")
	}
	b, _ := os.ReadFile(logFile)
	if !strings.Contains(string(b), `"level":"WARN","msg":"the admin listener is not on loopback`) {
		t.Errorf("log: got\n%s\nwant a warning that the admin listener is not on loopback", b)
	}

	off, _ := startServer(t, func(c *config.Config) { c.Listen, c.AdminListen = "127.0.0.1:0", "" })
	if a := run(t, off); a.Admin != "" || a.Public == "" {
		t.Errorf("admin_listen off: got addresses %+v, want the public one only", a)
	}
}

func TestDiscoveryAdvertisesExtensions(t *testing.T) {
	e := newEnv(t)
	res, err := http.Get(e.url + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var d map[string]any
	json.NewDecoder(res.Body).Decode(&d)
	for _, k := range []string{"pushed_authorization_request_endpoint", "dpop_signing_alg_values_supported", "introspection_endpoint", "revocation_endpoint", "end_session_endpoint"} {
		if d[k] == nil {
			t.Errorf("discovery lacks %s", k)
		}
	}
	if d["backchannel_logout_supported"] != true {
		t.Errorf("backchannel_logout_supported = %v, want true", d["backchannel_logout_supported"])
	}
	if d["device_authorization_endpoint"] != nil {
		t.Errorf("device_authorization_endpoint advertised, but the device grant is not offered")
	}
	st, _ := d["subject_types_supported"].([]any)
	if len(st) != 2 || st[0] != "pairwise" {
		t.Errorf("subject_types_supported = %v, want [pairwise public]", st)
	}
}
