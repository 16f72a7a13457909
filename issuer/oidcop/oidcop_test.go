package oidcop_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/cedula/cedula/audit"
	auditstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/consent"
	consentstore "github.com/cedula/cedula/consent/sqlstore"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// env is a provider on httptest with a stand-in login page that logs in a
// fixed citizen, as the passkey pages do after a successful ceremony.
type env struct {
	t        testing.TB
	srv      *httptest.Server
	p        *oidcop.Provider
	store    *sqlstore.Store
	citizen  issuer.Citizen
	agentKey *jose.ClientKey // key of the confidential "agency" client
	http     *http.Client    // does not follow redirects
	audit    *auditstore.Store
	consent  *consent.Service
	// endGrants makes a consent that ends end the agency's grant, as the
	// server does (consent.Effects → Provider.EndGrant).
	endGrants bool
	// sid is the citizen's login session, stored, which the stand-in login
	// page completes requests in.
	sid string
	// again are the purposes the stand-in consent screen gives again
	// (the citizen ticked them).
	again []string
}

// endGrants is the server's consent effect, when the test turns it on.
type endGrants struct{ e *env }

func (g endGrants) Ended(ctx context.Context, r consent.Record) error {
	if !g.e.endGrants {
		return nil
	}
	_, err := g.e.p.EndGrant(ctx, r.Key.Subject, r.Key.Controller)
	return err
}

// The purposes of the registry: a login purpose of the public client and
// two of the web client, one resting on consent and one on public task.
const (
	loginPurpose = "app-login"
	taxPurpose   = "tax-filing"
	taskPurpose  = "tax-notices"
)

func testPurpose(id, controller string, basis consent.LegalBasis) consent.Purpose {
	return consent.Purpose{ID: id, Name: consent.Text{ES: "Propósito " + id, EN: "Purpose " + id},
		Description: consent.Text{ES: "Descripción", EN: "Description"}, Controller: controller, LegalBasis: basis,
		Categories: []string{"profile", "email"}, DPV: "dpv:ServiceProvision", NoticeVersion: "1", NoticeURL: "https://example.gov/privacy"}
}

const (
	publicClient = "mobile"
	webClient    = "agency-web"
	rsaClient    = "agency-rsa"
	otherSector  = "agency-other"
	secretClient = "agency-secret"
	machine      = "agency-machine"
)

// newEnv builds the environment; opts change the provider's configuration.
func newEnv(t testing.TB, opts ...func(*oidcop.Config)) *env {
	t.Helper()
	km, err := localkeys.Open(filepath.Join(t.TempDir(), "keystore.json"), localkeys.WithKEK(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return newEnvWith(t, km, opts...)
}

// newEnvWith builds the environment over the key manager km; opts change
// the provider's configuration.
func newEnvWith(t testing.TB, km keys.Manager, opts ...func(*oidcop.Config)) *env {
	t.Helper()
	ctx := context.Background()
	d := dbtest.SQLite(t, sqlstore.Migrations, auditstore.Migrations, consentstore.Migrations)
	e := &env{t: t, store: sqlstore.New(d)}
	e.audit = auditstore.New(d)
	t.Cleanup(e.audit.Close)
	var err error
	e.consent, err = consent.New(ctx, consent.Config{Store: consentstore.New(d), Audit: e.audit, Effects: endGrants{e},
		Pseudonym: audit.NewPseudonyms(make([]byte, 32)).Of})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.consent.Close() })
	for _, p := range []consent.Purpose{testPurpose(loginPurpose, publicClient, consent.Consent), testPurpose(taxPurpose, webClient, consent.Consent),
		testPurpose(taskPurpose, webClient, consent.PublicTask)} {
		if _, err := e.consent.PutPurpose(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	cfg := oidcop.Config{
		Issuer: e.srv.URL, LoginPath: "/login", AccessTTL: 5 * time.Minute, IDTTL: 5 * time.Minute,
		RefreshTTL: time.Hour, Secret: make([]byte, 32), AllowInsecure: true, Consent: e.consent,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.p, err = oidcop.New(ctx, cfg, e.store, km, slog.New(slog.NewTextHandler(io.Discard, nil)), oidcop.NewMetrics(nil))
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", e.p.Handler())
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		next, err := e.p.Complete(r.Context(), r.URL.Query().Get("authRequestID"), e.citizen.ID, e.sid, []string{"hwk", "user"}, time.Now(), e.again)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, next, http.StatusFound)
	})
	e.citizen = issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: "Ana", FamilyName: "García", Birthdate: "1990-04-12", Email: "ana@example.org", Locale: "es", Created: time.Now()}
	if err := e.store.CreateCitizen(ctx, e.citizen); err != nil {
		t.Fatal(err)
	}
	e.sid = "sid-" + e.citizen.ID
	if err := e.store.CreateSession(ctx, issuer.Session{IDHash: []byte("session-of-" + e.citizen.ID), SID: e.sid, CitizenID: e.citizen.ID,
		AMR: []string{"hwk", "user"}, AuthTime: time.Now(), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e.agentKey, err = jose.NewClientKey(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := e.agentKey.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	_, digest := secretPair()
	code := []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}
	for _, c := range []issuer.Client{
		{ID: publicClient, Name: "App", RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: code, AuthMethod: issuer.AuthNone, SubjectType: issuer.SubjectPairwise},
		{ID: webClient, Name: "Agencia Tributaria", RedirectURIs: []string{"https://tax.example/cb"}, GrantTypes: code, AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: jwks, SubjectType: issuer.SubjectPairwise},
		{ID: rsaClient, Name: "RSA agency", RedirectURIs: []string{"https://rsa.example/cb"}, GrantTypes: code, AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: jwks, SubjectType: issuer.SubjectPairwise, IDTokenAlg: "RS256"},
		{ID: otherSector, Name: "Health", RedirectURIs: []string{"https://health.example/cb"}, GrantTypes: code, AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: jwks, SubjectType: issuer.SubjectPairwise},
		{ID: secretClient, Name: "Secret agency", RedirectURIs: []string{"https://secret.example/cb"}, GrantTypes: append(code, issuer.GrantClientCredentials), AuthMethod: issuer.AuthClientSecretBasic, SecretHash: digest, SubjectType: issuer.SubjectPairwise},
		{ID: machine, Name: "Machine", GrantTypes: []string{issuer.GrantClientCredentials}, AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: jwks, SubjectType: issuer.SubjectPairwise, Scopes: []string{"cedula:admin"}},
	} {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := e.store.PutClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	e.http = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return e
}

// The fixed secret of secretClient.
func secretPair() (string, []byte) {
	s := "s3cr3t-of-256-bits-in-real-life-0123456789abcdef"
	return s, issuer.HashSecret(s)
}

// authorize runs the front channel and returns the redirect to the client.
func (e *env) authorize(q url.Values) *url.URL {
	e.t.Helper()
	u := e.srv.URL + "/authorize?" + q.Encode()
	for i := 0; i < 5; i++ {
		res, err := e.http.Get(u)
		if err != nil {
			e.t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther {
			e.t.Fatalf("GET %s: status %d, want a redirect", u, res.StatusCode)
		}
		loc, _ := res.Request.URL.Parse(res.Header.Get("Location"))
		if !strings.HasPrefix(loc.String(), e.srv.URL) {
			return loc
		}
		u = loc.String()
	}
	e.t.Fatal("too many redirects")
	return nil
}

func (e *env) assertion(clientID string, aud ...string) string {
	e.t.Helper()
	if len(aud) == 0 {
		aud = []string{e.srv.URL + "/oauth/token"}
	}
	a, err := e.agentKey.SignAssertion(jose.ClientAssertion{ClientID: clientID, Audience: aud, IssuedAt: time.Now(), Expiry: time.Now().Add(time.Minute)})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// token posts form to the token endpoint and decodes the JSON answer.
func (e *env) token(form url.Values, basic ...string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	res, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func (e *env) introspect(token string) map[string]any {
	e.t.Helper()
	form := url.Values{"token": {token}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {e.assertion(webClient)}}
	res, err := e.http.PostForm(e.srv.URL+"/oauth/introspect", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return out
}

func pkce() (verifier, challenge string) {
	verifier = oauth2.GenerateVerifier()
	h := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(h[:])
}

func codeRequest(clientID, redirect, challenge string, scopes ...string) url.Values {
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {strings.Join(append([]string{"openid"}, scopes...), " ")}, "state": {"st-1"}, "nonce": {"n-1"}}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	return q
}

// TestCodeFlowWithGoOIDC runs the authorization code flow with PKCE as an
// agency would with coreos/go-oidc and x/oauth2, and verifies the ID token
// against the published JWKS.
func TestCodeFlowWithGoOIDC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	prov, err := oidc.NewProvider(ctx, e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: publicClient, Endpoint: prov.Endpoint(), RedirectURL: "http://127.0.0.1/cb", Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess, oidcop.PurposeScope + loginPurpose}}
	verifier := oauth2.GenerateVerifier()
	authURL, _ := url.Parse(conf.AuthCodeURL("st-1", oidc.Nonce("n-1"), oauth2.S256ChallengeOption(verifier)))
	back := e.authorize(authURL.Query())
	if got := back.Query().Get("state"); got != "st-1" {
		t.Fatalf("state = %q, want st-1", got)
	}
	tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&oidc.Config{ClientID: publicClient}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token does not verify against the JWKS: %v", err)
	}
	if idt.Nonce != "n-1" {
		t.Errorf("nonce = %q, want n-1", idt.Nonce)
	}
	if idt.Subject == "" || idt.Subject == e.citizen.ID {
		t.Errorf("sub is the internal citizen ID; want a pairwise identifier")
	}
	hdr, _ := jose.Header([]byte(raw))
	if fmt.Sprint(hdr["alg"]) != "ES256" {
		t.Errorf("ID token alg = %v, want ES256", hdr["alg"])
	}
	ui, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Sub, GivenName, FamilyName, Birthdate, Email string
	}
	ui.Claims(&claims)
	if ui.Subject != idt.Subject || ui.Email != "ana@example.org" {
		t.Errorf("userinfo sub=%q email=%q, want sub=%q email=ana@example.org", ui.Subject, ui.Email, idt.Subject)
	}
	if tok.RefreshToken == "" {
		t.Fatalf("no refresh token with offline_access")
	}
	// Code reuse is refused.
	if _, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier)); err == nil {
		t.Errorf("second exchange of the same code succeeded, want invalid_grant")
	}
}

func TestPKCERules(t *testing.T) {
	e := newEnv(t)
	_, challenge := pkce()
	for _, tc := range []struct {
		name   string
		q      url.Values
		errStr string
	}{
		{"public client without PKCE", codeRequest(publicClient, "http://127.0.0.1/cb", ""), "invalid_request"},
		{"plain method", func() url.Values {
			q := codeRequest(publicClient, "http://127.0.0.1/cb", challenge)
			q.Set("code_challenge_method", "plain")
			return q
		}(), "invalid_request"},
		{"method omitted (defaults to plain)", func() url.Values {
			q := codeRequest(webClient, "https://tax.example/cb", challenge)
			q.Del("code_challenge_method")
			return q
		}(), "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			back := e.authorize(tc.q)
			if got := back.Query().Get("error"); got != tc.errStr {
				t.Errorf("error = %q, want %q (redirect %s)", got, tc.errStr, back)
			}
		})
	}
}

func TestMismatchedRedirectNeverRedirected(t *testing.T) {
	e := newEnv(t)
	_, challenge := pkce()
	for _, uri := range []string{"https://evil.example/cb", "http://127.0.0.1/cb/extra", "http://127.0.0.1/cb?x=1"} {
		res, err := e.http.Get(e.srv.URL + "/authorize?" + codeRequest(publicClient, uri, challenge).Encode())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode >= 300 && res.StatusCode < 400 {
			t.Errorf("redirect_uri %s: got redirect to %q, want an error page", uri, res.Header.Get("Location"))
		}
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	e := newEnv(t)
	verifier, challenge := pkce()
	back := e.authorize(codeRequest(webClient, "https://tax.example/cb", challenge))
	code := back.Query().Get("code")
	auth := func(f url.Values) url.Values {
		f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		f.Set("client_assertion", e.assertion(webClient))
		return f
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		err    string
	}{
		{"wrong verifier", auth(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://tax.example/cb"}, "code_verifier": {"x" + verifier}}), 400, "invalid_grant"},
		{"missing verifier", auth(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://tax.example/cb"}}), 400, "invalid_grant"},
		{"unknown code", auth(url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {"https://tax.example/cb"}, "code_verifier": {verifier}}), 400, "invalid_grant"},
		{"unsupported grant", auth(url.Values{"grant_type": {"password"}}), 400, "unsupported_grant_type"},
		{"no grant", auth(url.Values{}), 400, "invalid_request"},
		{"no client authentication", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {webClient}}, 400, "invalid_client"},
		{"bad assertion", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {"a.b.c"}}, 401, "invalid_client"},
		{"assertion for the wrong audience", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {e.assertion(machine, "https://other.example")}}, 401, "invalid_client"},
		{"client_credentials not allowed for client", auth(url.Values{"grant_type": {"client_credentials"}}), 400, "unauthorized_client"},
		{"scope not allowed", url.Values{"grant_type": {"client_credentials"}, "scope": {"cedula:everything"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {e.assertion(machine)}}, 400, "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := e.token(tc.form)
			if out["error"] != tc.err {
				t.Errorf("error = %v, want %s (status %d, %v)", out["error"], tc.err, status, out)
			}
			if status != tc.status && !(tc.status == 401 && status == 400) {
				t.Errorf("status = %d, want %d", status, tc.status)
			}
		})
	}
	// The good verifier still works after the failures above.
	status, out := e.token(auth(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://tax.example/cb"}, "code_verifier": {verifier}}))
	if status != 200 || out["id_token"] == nil {
		t.Fatalf("good exchange: status %d %v, want 200 with an id_token", status, out)
	}
}

func TestClientCredentialsPrivateKeyJWT(t *testing.T) {
	e := newEnv(t)
	a := e.assertion(machine, e.srv.URL) // the issuer is an accepted audience too
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"cedula:admin"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
	status, out := e.token(form)
	if status != 200 || out["access_token"] == nil {
		t.Fatalf("status %d %v, want 200 with an access token", status, out)
	}
	at, err := e.p.AccessToken(context.Background(), out["access_token"].(string))
	if err != nil || at.ClientID != machine || at.CitizenID != "" {
		t.Fatalf("AccessToken = %+v, %v; want the machine client's token", at, err)
	}
	// RFC 7523 §3: the same assertion again is a replay.
	status, out = e.token(form)
	if out["error"] != "invalid_client" {
		t.Errorf("replayed assertion: status %d %v, want invalid_client", status, out)
	}
}

func TestClientSecretBasic(t *testing.T) {
	e := newEnv(t)
	secret, _ := secretPair()
	form := url.Values{"grant_type": {"client_credentials"}}
	if status, out := e.token(form, secretClient, secret); status != 200 {
		t.Fatalf("good secret: status %d %v, want 200", status, out)
	}
	if status, out := e.token(form, secretClient, secret+"x"); out["error"] != "invalid_client" {
		t.Fatalf("bad secret: status %d %v, want invalid_client", status, out)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	e := newEnv(t)
	verifier, challenge := pkce()
	back := e.authorize(codeRequest(webClient, "https://tax.example/cb", challenge, "offline_access"))
	grant := func(f url.Values) map[string]any {
		f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		f.Set("client_assertion", e.assertion(webClient))
		_, out := e.token(f)
		return out
	}
	first := grant(url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {"https://tax.example/cb"}, "code_verifier": {verifier}})
	rt1, _ := first["refresh_token"].(string)
	if rt1 == "" {
		t.Fatalf("no refresh token: %v", first)
	}
	second := grant(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	rt2, _ := second["refresh_token"].(string)
	if rt2 == "" || rt2 == rt1 {
		t.Fatalf("rotation: %v; want a new refresh token", second)
	}
	if got := e.introspect(second["access_token"].(string))["active"]; got != true {
		t.Fatalf("new access token active = %v, want true", got)
	}
	// Reusing rt1 is theft detection: the whole family is revoked.
	if out := grant(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}); out["error"] != "invalid_grant" {
		t.Fatalf("reuse: %v, want invalid_grant", out)
	}
	if out := grant(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}); out["error"] != "invalid_grant" {
		t.Errorf("rt2 after reuse: %v, want invalid_grant (family revoked)", out)
	}
	if got := e.introspect(second["access_token"].(string))["active"]; got != false {
		t.Errorf("access token after reuse: active = %v, want false", got)
	}
	if got := e.introspect(first["access_token"].(string))["active"]; got != false {
		t.Errorf("first access token after reuse: active = %v, want false", got)
	}
}

func TestIntrospectionOnlyForOwnTokens(t *testing.T) {
	e := newEnv(t)
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {e.assertion(machine)}}
	_, out := e.token(form)
	// webClient did not get this token and is not its audience.
	if got := e.introspect(out["access_token"].(string))["active"]; got != false {
		t.Errorf("another client's token: active = %v, want false", got)
	}
}

func TestRevocation(t *testing.T) {
	e := newEnv(t)
	verifier, challenge := pkce()
	back := e.authorize(codeRequest(publicClient, "http://127.0.0.1/cb", challenge))
	_, out := e.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {publicClient}, "code": {back.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1/cb"}, "code_verifier": {verifier}})
	at := out["access_token"].(string)
	if _, err := e.p.AccessToken(context.Background(), at); err != nil {
		t.Fatalf("before revocation: %v, want an active token", err)
	}
	res, err := e.http.PostForm(e.srv.URL+"/revoke", url.Values{"token": {at}, "client_id": {publicClient}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("revoke: status %d, want 200", res.StatusCode)
	}
	if _, err := e.p.AccessToken(context.Background(), at); err == nil {
		t.Errorf("after revocation the access token is still active")
	}
}

func TestPairwiseSubjectsAndRS256(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	prov, err := oidc.NewProvider(ctx, e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	subs := map[string]string{}
	for _, tc := range []struct{ client, redirect, alg string }{
		{webClient, "https://tax.example/cb", "ES256"},
		{rsaClient, "https://rsa.example/cb", "RS256"},
		{otherSector, "https://health.example/cb", "ES256"},
	} {
		raw := e.idToken(tc.client, tc.redirect)
		hdr, _ := jose.Header([]byte(raw))
		if fmt.Sprint(hdr["alg"]) != tc.alg {
			t.Errorf("%s: alg = %v, want %s", tc.client, hdr["alg"], tc.alg)
		}
		idt, err := prov.Verifier(&oidc.Config{ClientID: tc.client, SupportedSigningAlgs: []string{"ES256", "RS256", "EdDSA"}}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("%s: %v", tc.client, err)
		}
		subs[tc.client] = idt.Subject
	}
	if subs[webClient] == subs[otherSector] {
		t.Errorf("two sectors see the same sub %q; want pairwise identifiers", subs[webClient])
	}
}

func TestDiscoveryListsRS256(t *testing.T) {
	e := newEnv(t)
	res, err := http.Get(e.srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var d map[string]any
	json.NewDecoder(res.Body).Decode(&d)
	found := false
	for _, a := range d["id_token_signing_alg_values_supported"].([]any) {
		found = found || a == "RS256"
	}
	if !found {
		t.Errorf("id_token_signing_alg_values_supported = %v, want RS256 listed (OIDC Discovery §3)", d["id_token_signing_alg_values_supported"])
	}
	if m := d["code_challenge_methods_supported"]; m == nil || len(m.([]any)) != 1 || m.([]any)[0] != "S256" {
		t.Errorf("code_challenge_methods_supported = %v, want [S256]", m)
	}
}

func TestDenyRedirectsAccessDenied(t *testing.T) {
	e := newEnv(t)
	_, challenge := pkce()
	q := codeRequest(publicClient, "http://127.0.0.1/cb", challenge)
	res, err := e.http.Get(e.srv.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	next, err := e.p.Deny(context.Background(), loc.Query().Get("authRequestID"))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(next)
	if u.Query().Get("error") != "access_denied" || u.Query().Get("state") != "st-1" {
		t.Errorf("deny redirect %s, want error=access_denied&state=st-1", next)
	}
}

// idToken runs the code flow for a confidential client (private_key_jwt)
// and returns the ID token.
func (e *env) idToken(client, redirect string) string {
	e.t.Helper()
	verifier, challenge := pkce()
	back := e.authorize(codeRequest(client, redirect, challenge))
	_, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {redirect},
		"code_verifier": {verifier}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {e.assertion(client)}})
	raw, _ := out["id_token"].(string)
	if raw == "" {
		e.t.Fatalf("%s: no ID token: %v", client, out)
	}
	return raw
}
