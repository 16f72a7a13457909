package oidcop_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
)

func (e *env) postForm(path string, form url.Values, hdr http.Header) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header[k] = v
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

func TestPushedAuthorizationRequests(t *testing.T) {
	e := newEnv(t)
	verifier, challenge := pkce()
	withAuth := func(q url.Values, client string) url.Values {
		q.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		q.Set("client_assertion", e.assertion(client))
		return q
	}
	status, out := e.postForm("/oauth/par", withAuth(codeRequest(webClient, "https://tax.example/cb", challenge), webClient), nil)
	ru, _ := out["request_uri"].(string)
	if status != http.StatusCreated || !strings.HasPrefix(ru, "urn:ietf:params:oauth:request_uri:") || out["expires_in"] == nil {
		t.Fatalf("PAR: status %d %v, want 201 with a request_uri", status, out)
	}
	back := e.authorize(url.Values{"client_id": {webClient}, "request_uri": {ru}})
	code := back.Query().Get("code")
	if code == "" || back.Query().Get("state") != "st-1" {
		t.Fatalf("authorize with request_uri: %s, want a code and the pushed state", back)
	}
	if status, out := e.token(withAuth(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://tax.example/cb"}, "code_verifier": {verifier}}, webClient)); status != 200 {
		t.Fatalf("token: %d %v", status, out)
	}
	// A request_uri is single use.
	res, err := e.http.Get(e.srv.URL + "/authorize?" + url.Values{"client_id": {webClient}, "request_uri": {ru}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var reuse map[string]any
	json.NewDecoder(res.Body).Decode(&reuse)
	res.Body.Close()
	if res.StatusCode != 400 || reuse["error"] != "invalid_request_uri" {
		t.Errorf("reused request_uri: status %d %v, want 400 invalid_request_uri", res.StatusCode, reuse)
	}

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		err    string
	}{
		{"unregistered redirect", withAuth(codeRequest(webClient, "https://evil.example/cb", challenge), webClient), 400, "invalid_request"},
		{"no client authentication", codeRequest(webClient, "https://tax.example/cb", challenge), 401, "invalid_client"},
		{"public client without PKCE", codeRequest(publicClient, "http://127.0.0.1/cb", ""), 400, "invalid_request"},
		{"nested request_uri", func() url.Values {
			q := withAuth(codeRequest(webClient, "https://tax.example/cb", challenge), webClient)
			q.Set("request_uri", ru)
			return q
		}(), 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := e.postForm("/oauth/par", tc.form, nil)
			if status != tc.status || out["error"] != tc.err {
				t.Errorf("status %d %v, want %d %s", status, out, tc.status, tc.err)
			}
		})
	}
}

func TestDPoPBoundTokens(t *testing.T) {
	e := newEnv(t)
	wallet, err := jose.NewClientKey(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	thief, _ := jose.NewClientKey(keys.ES256)
	proof := func(k *jose.ClientKey, method, path, token string) http.Header {
		ath := ""
		if token != "" {
			h := sha256.Sum256([]byte(token))
			ath = base64.RawURLEncoding.EncodeToString(h[:])
		}
		p, err := k.SignDPoP(method, e.srv.URL+path, ath, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Dpop": {p}}
	}
	verifier, challenge := pkce()
	back := e.authorize(codeRequest(publicClient, "http://127.0.0.1/cb", challenge, "offline_access", "email"))
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {publicClient}, "code": {back.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1/cb"}, "code_verifier": {verifier}}
	status, out := e.postForm("/oauth/token", form, proof(wallet, "POST", "/oauth/token", ""))
	if status != 200 || out["token_type"] != "DPoP" {
		t.Fatalf("token with DPoP: status %d %v, want token_type DPoP", status, out)
	}
	at, rt := out["access_token"].(string), out["refresh_token"].(string)

	userinfo := func(scheme string, hdr http.Header) int {
		req, _ := http.NewRequest("GET", e.srv.URL+"/userinfo", nil)
		req.Header.Set("Authorization", scheme+" "+at)
		for k, v := range hdr {
			req.Header[k] = v
		}
		res, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := userinfo("DPoP", proof(wallet, "GET", "/userinfo", at)); got != 200 {
		t.Errorf("userinfo with the holder's proof: status %d, want 200", got)
	}
	if got := userinfo("Bearer", nil); got != 401 {
		t.Errorf("DPoP-bound token as bearer: status %d, want 401", got)
	}
	if got := userinfo("DPoP", proof(thief, "GET", "/userinfo", at)); got != 401 {
		t.Errorf("proof from another key: status %d, want 401", got)
	}
	if got := userinfo("DPoP", proof(wallet, "POST", "/userinfo", at)); got != 401 {
		t.Errorf("proof for another method: status %d, want 401", got)
	}
	replayed := proof(wallet, "GET", "/userinfo", at)
	userinfo("DPoP", replayed)
	if got := userinfo("DPoP", replayed); got != 401 {
		t.Errorf("replayed proof: status %d, want 401", got)
	}

	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {publicClient}, "refresh_token": {rt}}
	if _, out := e.postForm("/oauth/token", refresh, proof(thief, "POST", "/oauth/token", "")); out["error"] != "invalid_grant" {
		t.Errorf("refresh with another key: %v, want invalid_grant", out)
	}
	if status, out := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {publicClient}, "refresh_token": {rt}}, proof(wallet, "POST", "/oauth/token", "")); status != 200 || out["token_type"] != "DPoP" {
		t.Errorf("refresh with the holder's key: status %d %v, want a DPoP token", status, out)
	}
	for name, hdr := range map[string]http.Header{
		"garbage proof": {"Dpop": {"a.b.c"}},
		"wrong htu":     proof(wallet, "POST", "/elsewhere", ""),
		"two proofs":    {"Dpop": {proof(wallet, "POST", "/oauth/token", "").Get("Dpop"), proof(wallet, "POST", "/oauth/token", "").Get("Dpop")}},
	} {
		if status, out := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {publicClient}, "refresh_token": {rt}}, hdr); status != 400 || out["error"] != "invalid_dpop_proof" {
			t.Errorf("%s: status %d %v, want 400 invalid_dpop_proof", name, status, out)
		}
	}
}

func TestBackchannelLogout(t *testing.T) {
	e := newEnv(t)
	got := make(chan string, 1)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got <- r.PostForm.Get("logout_token")
	}))
	defer rp.Close()
	c, _ := e.store.Client(context.Background(), webClient)
	c.BackchannelLogoutURI = rp.URL + "/logout"
	c.PostLogoutRedirectURIs = []string{"https://tax.example/bye"}
	if err := e.store.PutClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	verifier, challenge := pkce()
	back := e.authorize(codeRequest(webClient, "https://tax.example/cb", challenge))
	_, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {"https://tax.example/cb"},
		"code_verifier": {verifier}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {e.assertion(webClient)}})
	idToken := out["id_token"].(string)
	res, err := e.http.Get(e.srv.URL + "/end_session?" + url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://tax.example/bye"}, "client_id": {webClient}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "https://tax.example/bye") {
		t.Errorf("end_session redirect = %q, want the registered post-logout URI", loc)
	}
	// The session's end queued the notification; one delivery round
	// sends it.
	if n, err := e.p.DeliverLogouts(context.Background()); err != nil || n != 1 {
		t.Fatalf("DeliverLogouts: got %d, %v; want 1 logout delivered", n, err)
	}
	var lt string
	select {
	case lt = <-got:
	default:
		t.Fatal("no logout token delivered")
	}
	kres, err := http.Get(e.srv.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(kres.Body)
	kres.Body.Close()
	payload, err := jose.Verify([]byte(lt), jwks)
	if err != nil {
		t.Fatalf("logout token does not verify with the JWKS: %v", err)
	}
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	idPayload, _ := jose.Verify([]byte(idToken), jwks)
	var idClaims map[string]any
	json.Unmarshal(idPayload, &idClaims)
	events, _ := claims["events"].(map[string]any)
	if claims["sub"] != idClaims["sub"] || claims["aud"] != webClient || claims["iss"] != e.srv.URL || events["http://schemas.openid.net/event/backchannel-logout"] == nil || claims["nonce"] != nil {
		t.Errorf("logout token claims %v, want sub %v, aud %s, the back-channel event and no nonce", claims, idClaims["sub"], webClient)
	}
	if claims["sid"] != e.sid || idClaims["sid"] != e.sid {
		t.Errorf("sid: got %v in the logout token and %v in the ID token, want %s in both", claims["sid"], idClaims["sid"], e.sid)
	}
	if _, err := e.store.Session(context.Background(), []byte("session-of-"+e.citizen.ID), time.Now()); err == nil {
		t.Errorf("the session the ID token named survived end_session")
	}
	hdr, _ := jose.Header([]byte(lt))
	if fmt.Sprint(hdr["typ"]) != "logout+jwt" {
		t.Errorf("typ = %v, want logout+jwt", hdr["typ"])
	}
}

// TestDPoPCodeBinding: a code is bound to the DPoP key its request named —
// by a proof at PAR or by dpop_jkt (RFC 9449 §10) — and only that key
// redeems it; a proof and a dpop_jkt that disagree are refused at PAR.
func TestDPoPCodeBinding(t *testing.T) {
	e := newEnv(t)
	wallet, _ := jose.NewClientKey(keys.ES256)
	thief, _ := jose.NewClientKey(keys.ES256)
	proof := func(k *jose.ClientKey, path string) http.Header {
		p, err := k.SignDPoP("POST", e.srv.URL+path, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Dpop": {p}}
	}
	redeem := func(q url.Values, verifier string, k *jose.ClientKey) (int, map[string]any) {
		back := e.authorize(q)
		form := url.Values{"grant_type": {"authorization_code"}, "client_id": {publicClient}, "code": {back.Query().Get("code")},
			"redirect_uri": {"http://127.0.0.1/cb"}, "code_verifier": {verifier}}
		var hdr http.Header
		if k != nil {
			hdr = proof(k, "/oauth/token")
		}
		return e.postForm("/oauth/token", form, hdr)
	}
	pushed := func(k *jose.ClientKey, extra url.Values) (url.Values, string) {
		verifier, challenge := pkce()
		q := codeRequest(publicClient, "http://127.0.0.1/cb", challenge)
		for key, v := range extra {
			q[key] = v
		}
		status, out := e.postForm("/oauth/par", q, proof(k, "/oauth/par"))
		if status != http.StatusCreated {
			t.Fatalf("PAR with a DPoP proof: %d %v", status, out)
		}
		return url.Values{"client_id": {publicClient}, "request_uri": {out["request_uri"].(string)}}, verifier
	}
	q, v := pushed(wallet, nil)
	if status, out := redeem(q, v, thief); status != 400 || out["error"] != "invalid_dpop_proof" {
		t.Errorf("a code bound at PAR redeemed with another key: %d %v", status, out)
	}
	q, v = pushed(wallet, nil)
	if status, out := redeem(q, v, nil); status != 400 || out["error"] != "invalid_dpop_proof" {
		t.Errorf("a code bound at PAR redeemed without DPoP: %d %v", status, out)
	}
	q, v = pushed(wallet, nil)
	if status, out := redeem(q, v, wallet); status != 200 || out["token_type"] != "DPoP" {
		t.Errorf("a code bound at PAR redeemed with its key: %d %v", status, out)
	}
	other, _ := thief.Thumbprint()
	_, challenge := pkce()
	form := codeRequest(publicClient, "http://127.0.0.1/cb", challenge)
	form.Set("dpop_jkt", other)
	if status, out := e.postForm("/oauth/par", form, proof(wallet, "/oauth/par")); status != 400 || out["error"] != "invalid_dpop_proof" {
		t.Errorf("dpop_jkt and the proof disagree: %d %v", status, out)
	}
	// dpop_jkt on a front-channel request.
	mine, _ := wallet.Thumbprint()
	verifier, challenge := pkce()
	direct := codeRequest(publicClient, "http://127.0.0.1/cb", challenge)
	direct.Set("dpop_jkt", mine)
	if status, out := redeem(direct, verifier, thief); status != 400 || out["error"] != "invalid_dpop_proof" {
		t.Errorf("a code bound by dpop_jkt redeemed with another key: %d %v", status, out)
	}
	verifier, challenge = pkce()
	direct = codeRequest(publicClient, "http://127.0.0.1/cb", challenge)
	direct.Set("dpop_jkt", mine)
	if status, out := redeem(direct, verifier, wallet); status != 200 {
		t.Errorf("a code bound by dpop_jkt redeemed with its key: %d %v", status, out)
	}
}
