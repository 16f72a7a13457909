package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/pages"
)

// silentLogin logs the citizen holding the session cookie in to the public
// client clientID with prompt=none through the real pages, and returns the
// ID token's claims. The citizen must have logged in to the agency before
// (loggedInAt), so that nothing needs their consent.
func (e *env) silentLogin(clientID, redirect, cookie string, extra url.Values) (map[string]any, *url.URL) {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(e.url)
	jar.SetCookies(base, []*http.Cookie{{Name: pages.SessionCookie, Value: cookie}})
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := oauth2.GenerateVerifier()
	h := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"st-1"}, "prompt": {"none"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(h[:])}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	next := e.url + "/authorize?" + q.Encode()
	for range 8 {
		res, err := client.Get(next)
		if err != nil {
			e.t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode < 300 || res.StatusCode > 399 {
			e.t.Fatalf("GET %s: status %d, want a redirect (prompt=none shows no page)", next, res.StatusCode)
		}
		loc, _ := res.Request.URL.Parse(res.Header.Get("Location"))
		if !strings.HasPrefix(loc.String(), e.url) {
			if loc.Query().Get("code") == "" {
				return nil, loc
			}
			res, err := http.PostForm(e.url+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
				"client_id": {clientID}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
			if err != nil {
				e.t.Fatal(err)
			}
			var out map[string]any
			json.NewDecoder(res.Body).Decode(&out)
			res.Body.Close()
			idt, _ := out["id_token"].(string)
			payload, err := jose.Verify([]byte(idt), e.jwks())
			if err != nil {
				e.t.Fatalf("ID token: %v (token response %v)", err, out)
			}
			var claims map[string]any
			json.Unmarshal(payload, &claims)
			return claims, loc
		}
		next = loc.String()
	}
	e.t.Fatal("too many redirects")
	return nil, nil
}

func (e *env) jwks() []byte {
	e.t.Helper()
	res, err := http.Get(e.url + "/keys")
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return b
}

// TestEverySessionEndReachesTheAgencies: signing out on the account page,
// an administrator ending a citizen's sessions and erasure each end the
// citizen's session, and the agency it logged in to receives a signed
// back-channel logout token naming that session (OIDC Back-Channel Logout
// 1.0 §2.4) — before the fix, signing out told no agency and logout tokens
// carried no sid.
func TestEverySessionEndReachesTheAgencies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	got := make(chan string, 8)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got <- r.PostForm.Get("logout_token")
	}))
	defer rp.Close()
	const agency, redirect = "tax", "https://tax.example/cb"
	if err := e.s.Store.PutClient(ctx, issuer.Client{ID: agency, Name: "Impuestos", RedirectURIs: []string{redirect},
		GrantTypes: []string{issuer.GrantAuthorizationCode}, AuthMethod: issuer.AuthNone, SubjectType: issuer.SubjectPairwise,
		BackchannelLogoutURI: rp.URL + "/logout"}); err != nil {
		t.Fatal(err)
	}
	admin := e.token("registrar", "cedula:admin")
	csrfRe := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	for _, tc := range []struct {
		name string
		end  func(citizenID, cookie string)
	}{
		{"sign out", func(_, cookie string) {
			jar, _ := cookiejar.New(nil)
			base, _ := url.Parse(e.url)
			jar.SetCookies(base, []*http.Cookie{{Name: pages.SessionCookie, Value: cookie}})
			client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			res, err := client.Get(e.url + "/account")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			m := csrfRe.FindSubmatch(b)
			if m == nil {
				t.Fatal("no CSRF token on the account page")
			}
			res, err = client.PostForm(e.url+"/logout", url.Values{"csrf_token": {string(m[1])}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign out: status %d, want 303", res.StatusCode)
			}
		}},
		{"administrator ends the sessions", func(citizenID, _ string) {
			if res, out := e.do("DELETE", "/admin/citizens/"+citizenID+"/sessions", admin, ""); res.StatusCode != 200 || out["sessions_ended"] != 1.0 {
				t.Fatalf("end sessions: %d %v, want 200 with one session ended", res.StatusCode, out)
			}
		}},
		{"erasure", func(citizenID, _ string) {
			if res, out := e.do("POST", "/admin/erasures", admin, `{"citizen_id":"`+citizenID+`"}`); res.StatusCode != 201 {
				t.Fatalf("erasure: %d %v", res.StatusCode, out)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			citizen := e.citizen("Ana")
			sub := e.loggedInAt(agency, citizen)
			cookie := e.session(citizen)
			claims, back := e.silentLogin(agency, redirect, cookie, nil)
			if claims == nil {
				t.Fatalf("prompt=none login: got %s, want a code", back)
			}
			sid, _ := claims["sid"].(string)
			if sid == "" || claims["sub"] != sub {
				t.Fatalf("ID token: sid %v sub %v, want a sid and sub %s", claims["sid"], claims["sub"], sub)
			}
			tc.end(citizen, cookie)
			var lt string
			select {
			case lt = <-got:
			case <-time.After(30 * time.Second): // the replica's worker polls twice a second
				t.Fatal("no logout token reached the agency")
			}
			payload, err := jose.Verify([]byte(lt), e.jwks())
			if err != nil {
				t.Fatalf("logout token: %v", err)
			}
			var lc map[string]any
			json.Unmarshal(payload, &lc)
			events, _ := lc["events"].(map[string]any)
			if lc["sid"] != sid || lc["sub"] != sub || lc["aud"] != agency || lc["iss"] != e.url || lc["nonce"] != nil || lc["jti"] == nil ||
				events["http://schemas.openid.net/event/backchannel-logout"] == nil {
				t.Errorf("logout token claims %v, want sid %s, sub %s, aud %s, iss, jti, the event and no nonce", lc, sid, sub, agency)
			}
			select {
			case extra := <-got:
				t.Errorf("a second logout token for one session end: %.40s…", extra)
			default:
			}
		})
	}
}

// TestPromptNoneErrors: OIDC Core §3.1.2.6 — without a session,
// login_required; without the consent the request needs,
// consent_required; each with the request's state and the issuer
// (RFC 9207), and no page.
func TestPromptNoneErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const agency, redirect = "tax", "https://tax.example/cb"
	if err := e.s.Store.PutClient(ctx, issuer.Client{ID: agency, Name: "Impuestos", RedirectURIs: []string{redirect},
		GrantTypes: []string{issuer.GrantAuthorizationCode}, AuthMethod: issuer.AuthNone, SubjectType: issuer.SubjectPairwise}); err != nil {
		t.Fatal(err)
	}
	ana := e.citizen("Ana")
	check := func(name string, back *url.URL, want string) {
		t.Helper()
		q := back.Query()
		if q.Get("error") != want || q.Get("state") != "st-1" || q.Get("iss") != e.url || !strings.HasPrefix(back.String(), redirect) {
			t.Errorf("%s: got %s, want %s at the redirect URI with state st-1 and iss %s", name, back, want, e.url)
		}
	}
	_, back := e.silentLogin(agency, redirect, "no-such-session", nil)
	check("no session", back, "login_required")
	cookie := e.session(ana)
	_, back = e.silentLogin(agency, redirect, cookie, nil)
	check("first visit to the agency", back, "consent_required")
	e.loggedInAt(agency, ana)
	if claims, back := e.silentLogin(agency, redirect, cookie, nil); claims == nil {
		t.Errorf("after a first login: got %s, want a code", back)
	}
	_, back = e.silentLogin(agency, redirect, cookie, url.Values{"max_age": {"0"}})
	check("max_age=0", back, "login_required")
}
