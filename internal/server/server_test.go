package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/server"
	"github.com/cedula/cedula/issuer"
)

type env struct {
	t   *testing.T
	s   *server.Server
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
	for id, scopes := range map[string][]string{"registrar": {server.AdminScope}, "plain": nil} {
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
	admin := e.token("registrar", server.AdminScope)
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

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t)
	// In this order: /metrics counts the requests before it.
	for _, c := range [][2]string{{"/healthz", "ok"}, {"/readyz", "ready"}, {"/metrics", "cedula_http_requests_total"}} {
		path, want := c[0], c[1]
		res, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, want 200 containing %q", path, res.StatusCode, want)
		}
		if res.Header.Get("X-Request-ID") == "" {
			t.Errorf("GET %s: no X-Request-ID", path)
		}
	}
	e.token("registrar", server.AdminScope)
	res, _ := http.Get(e.url + "/metrics")
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), `cedula_tokens_issued_total{kind="client"} 1`) {
		t.Errorf("metrics do not count the issued token")
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
