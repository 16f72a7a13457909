package app_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer/pages"
)

// walletRedirect is the wallet app's redirect URI in tests (the default
// configuration's).
const walletRedirect = "es.cedula.wallet:/oauth/callback"

// walletLogin logs the citizen holding the session cookie in to the wallet
// app as the app does — PAR with a DPoP proof, PKCE, the code exchanged
// with a DPoP proof — and returns the app's DPoP key and access token. The
// citizen must have used the app before (loggedInAt), so that no page is
// shown.
func (e *env) walletLogin(cookie string) (*jose.ClientKey, string) {
	e.t.Helper()
	k, _ := jose.NewClientKey(keys.ES256)
	verifier := oauth2.GenerateVerifier()
	h := sha256.Sum256([]byte(verifier))
	form := url.Values{"client_id": {app.WalletClientID}, "redirect_uri": {walletRedirect}, "response_type": {"code"},
		"scope": {"openid " + scopes.Wallet}, "state": {"st"}, "prompt": {"none"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(h[:])}, "code_challenge_method": {"S256"}}
	post := func(path string, form url.Values) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		proof, _ := k.SignDPoP(http.MethodPost, e.url+path, "", time.Now())
		req.Header.Set("DPoP", proof)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		if res.StatusCode/100 != 2 {
			e.t.Fatalf("POST %s: %d %v", path, res.StatusCode, out)
		}
		return out
	}
	par := post("/oauth/par", form)
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(e.url)
	jar.SetCookies(base, []*http.Cookie{{Name: pages.SessionCookie, Value: cookie}})
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := e.url + "/authorize?" + url.Values{"client_id": {app.WalletClientID}, "request_uri": {par["request_uri"].(string)}}.Encode()
	for range 8 {
		res, err := client.Get(next)
		if err != nil {
			e.t.Fatal(err)
		}
		res.Body.Close()
		loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
		if err != nil || res.StatusCode/100 != 3 {
			e.t.Fatalf("GET %s: %d, want a redirect", next, res.StatusCode)
		}
		if strings.HasPrefix(loc.String(), walletRedirect) {
			code := loc.Query().Get("code")
			if code == "" {
				e.t.Fatalf("the wallet app got no code: %s", loc)
			}
			out := post("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {app.WalletClientID},
				"redirect_uri": {walletRedirect}, "code_verifier": {verifier}})
			if out["token_type"] != "DPoP" {
				e.t.Fatalf("the wallet app's token is %v, want DPoP-bound", out["token_type"])
			}
			return k, out["access_token"].(string)
		}
		next = loc.String()
	}
	e.t.Fatal("too many redirects")
	return nil, ""
}

// TestWalletAppClient: every server registers the wallet app as a public
// client that must use PAR; its token is DPoP-bound and carries the
// wallet scope for the citizen.
func TestWalletAppClient(t *testing.T) {
	e := newEnv(t)
	c, err := e.s.Store.Client(t.Context(), app.WalletClientID)
	if err != nil || !c.Public() || !c.RequirePAR || len(c.Scopes) == 0 || c.Scopes[0] != scopes.Wallet {
		t.Fatalf("wallet client: %+v %v", c, err)
	}
	ana := e.citizen("Ana")
	e.loggedInAt(app.WalletClientID, ana)
	k, tok := e.walletLogin(e.session(ana))
	req, _ := http.NewRequest(http.MethodGet, e.url+"/mobile/v1/me", nil)
	at, rerr := e.s.Provider.Authenticate(dpopRequest(t, req, k, tok), scopes.Wallet)
	if rerr != nil || at.CitizenID != ana || at.JKT == "" {
		t.Fatalf("the wallet token: %+v %v", at, rerr)
	}
	// Without PAR the app is refused.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(e.url + "/authorize?" + url.Values{"client_id": {app.WalletClientID}, "redirect_uri": {walletRedirect},
		"response_type": {"code"}, "scope": {"openid"}, "code_challenge": {"x"}, "code_challenge_method": {"S256"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc, _ := url.Parse(res.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("an authorization request without PAR: %d %q, want invalid_request", res.StatusCode, res.Header.Get("Location"))
	}
}

// dpopRequest adds the token and a DPoP proof for req to it.
func dpopRequest(t *testing.T, req *http.Request, k *jose.ClientKey, tok string) *http.Request {
	t.Helper()
	h := sha256.Sum256([]byte(tok))
	proof, err := k.SignDPoP(req.Method, req.URL.Scheme+"://"+req.URL.Host+req.URL.Path, base64.RawURLEncoding.EncodeToString(h[:]), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof)
	return req
}
