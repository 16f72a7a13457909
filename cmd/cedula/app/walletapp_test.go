package app_test

import (
	"crypto/sha256"
	"encoding/base64"
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

// walletAuth is the wallet app's login under way: its authorization
// request pushed (PAR with a DPoP proof of a fresh key, PKCE), waiting for
// the citizen's browser to come back to redirect. Its wallet holds the
// app's DPoP key and, once finished, its token.
type walletAuth struct {
	*wallet
	verifier, redirect string
	// loginURL is where the app sends the citizen's browser.
	loginURL string
}

// startWalletLogin pushes the wallet app's authorization request for
// redirect, with the extra parameters (such as prompt=none) besides.
func (e *env) startWalletLogin(redirect string, extra url.Values) *walletAuth {
	e.t.Helper()
	k, _ := jose.NewClientKey(keys.ES256)
	w := &walletAuth{wallet: &wallet{e: e, dpop: k}, verifier: oauth2.GenerateVerifier(), redirect: redirect}
	form := url.Values{"client_id": {app.WalletClientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid " + scopes.Wallet}, "state": {"st"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(w.verifier)}, "code_challenge_method": {"S256"}}
	for name, v := range extra {
		form[name] = v
	}
	par := w.mustPost("/oauth/par", form)
	w.loginURL = e.url + "/authorize?" + url.Values{"client_id": {app.WalletClientID}, "request_uri": {par["request_uri"].(string)}}.Encode()
	return w
}

// mustPost posts form with the app's DPoP proof; the answer must be a
// success.
func (w *walletAuth) mustPost(path string, form url.Values) map[string]any {
	w.e.t.Helper()
	status, out, _ := w.post(path, form, nil)
	if status/100 != 2 {
		w.e.t.Fatalf("POST %s: %d %v", path, status, out)
	}
	return out
}

// finish takes the address the browser came back to and exchanges its
// code, with the PKCE verifier and a DPoP proof, for the app's access
// token, which must be DPoP-bound.
func (w *walletAuth) finish(back *url.URL) string {
	w.e.t.Helper()
	q := back.Query()
	if code := q.Get("code"); code == "" || q.Get("state") != "st" {
		w.e.t.Fatalf("the browser came back to the app with error %q and state %q, want a code and state st", q.Get("error"), q.Get("state"))
	}
	out := w.mustPost("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {app.WalletClientID},
		"redirect_uri": {w.redirect}, "code_verifier": {w.verifier}})
	if out["token_type"] != "DPoP" {
		w.e.t.Fatalf("the wallet app's token is %v, want DPoP-bound", out["token_type"])
	}
	w.token = out["access_token"].(string)
	return w.token
}

// walletLogin logs the citizen holding the session cookie in to the wallet
// app as the app does — PAR with a DPoP proof, PKCE, the code exchanged
// with a DPoP proof — and returns the app's DPoP key and access token. The
// citizen must have used the app before (loggedInAt), so that no page is
// shown.
func (e *env) walletLogin(cookie string) (*jose.ClientKey, string) {
	e.t.Helper()
	w := e.startWalletLogin(walletRedirect, url.Values{"prompt": {"none"}})
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(e.url)
	jar.SetCookies(base, []*http.Cookie{{Name: pages.SessionCookie, Value: cookie}})
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := w.loginURL
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
			return w.dpop, w.finish(loc)
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
