// Package rptest is an agency's web application for tests: a relying party
// built on coreos/go-oidc and golang.org/x/oauth2, code nobody on this team
// wrote, that logs citizens in with the authorization code flow and PKCE,
// verifies the ID token against the provider's JWKS and reads userinfo.
package rptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// RelyingParty is an agency's web application built on coreos/go-oidc and
// golang.org/x/oauth2 — code nobody on this team wrote — using the
// authorization code flow with PKCE.
type RelyingParty struct {
	// URL is the agency's base URL; its redirect URI is URL + "/cb" and a
	// browser starts a login at URL + "/start".
	URL      string
	t        *testing.T
	srv      *httptest.Server
	provider *oidc.Provider
	conf     oauth2.Config
	mu       sync.Mutex
	pending  map[string][2]string // state → nonce, verifier
	results  chan Result
	params   map[string]string
}

// SetParam adds a parameter to the authorization requests the agency
// makes from now on (the claims parameter, say); "" removes it.
func (rp *RelyingParty) SetParam(name, value string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if value == "" {
		delete(rp.params, name)
		return
	}
	rp.params[name] = value
}

// Result is what the agency learnt from one login.
type Result struct {
	IDToken  *oidc.IDToken
	UserInfo *oidc.UserInfo
	Claims   map[string]any // userinfo claims
	Token    *oauth2.Token  // the access token, to use again later
	err      error
}

// New starts the agency's application for clientID at issuerURL; it asks
// for openid, profile and email, and for the extra scopes (a purpose scope,
// say).
func New(t *testing.T, issuerURL, clientID string, extra ...string) *RelyingParty {
	rp := &RelyingParty{t: t, pending: map[string][2]string{}, results: make(chan Result, 4), params: map[string]string{}}
	mux := http.NewServeMux()
	rp.srv = httptest.NewServer(mux)
	rp.URL = rp.srv.URL
	t.Cleanup(rp.srv.Close)
	p, err := oidc.NewProvider(context.Background(), issuerURL)
	if err != nil {
		t.Fatal(err)
	}
	rp.provider = p
	rp.conf = oauth2.Config{ClientID: clientID, Endpoint: p.Endpoint(), RedirectURL: rp.srv.URL + "/cb",
		Scopes: append([]string{oidc.ScopeOpenID, "profile", "email"}, extra...)}
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 16)
		rand.Read(b)
		state, nonce, verifier := hex.EncodeToString(b[:8]), hex.EncodeToString(b[8:]), oauth2.GenerateVerifier()
		rp.mu.Lock()
		rp.pending[state] = [2]string{nonce, verifier}
		opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
		for k, v := range rp.params {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
		rp.mu.Unlock()
		http.Redirect(w, r, rp.conf.AuthCodeURL(state, opts...), http.StatusFound)
	})
	mux.HandleFunc("/cb", func(w http.ResponseWriter, r *http.Request) {
		res := rp.callback(r)
		rp.results <- res
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if res.err != nil {
			fmt.Fprintf(w, "<!doctype html><html lang=en><title>Agency</title><main><p id=rp-error>%s</p></main>", res.err)
			return
		}
		fmt.Fprint(w, "<!doctype html><html lang=en><title>Agency</title><main><p id=rp-done>signed in</p></main>")
	})
	return rp
}

func (rp *RelyingParty) callback(r *http.Request) Result {
	ctx := r.Context()
	if e := r.URL.Query().Get("error"); e != "" {
		return Result{err: fmt.Errorf("authorization error %s", e)}
	}
	rp.mu.Lock()
	pend, ok := rp.pending[r.URL.Query().Get("state")]
	delete(rp.pending, r.URL.Query().Get("state"))
	rp.mu.Unlock()
	if !ok {
		return Result{err: fmt.Errorf("unknown state")}
	}
	tok, err := rp.conf.Exchange(ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(pend[1]))
	if err != nil {
		return Result{err: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.provider.Verifier(&oidc.Config{ClientID: rp.conf.ClientID}).Verify(ctx, raw)
	if err != nil {
		return Result{err: fmt.Errorf("ID token: %w", err)}
	}
	if idt.Nonce != pend[0] {
		return Result{err: fmt.Errorf("nonce mismatch")}
	}
	ui, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return Result{err: fmt.Errorf("userinfo: %w", err)}
	}
	var claims map[string]any
	ui.Claims(&claims)
	return Result{IDToken: idt, UserInfo: ui, Claims: claims, Token: tok}
}

// UserInfo asks the userinfo endpoint again with the access token of an
// earlier login: the claims, or the error go-oidc reports.
func (rp *RelyingParty) UserInfo(ctx context.Context, tok *oauth2.Token) (map[string]any, error) {
	ui, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	err = ui.Claims(&claims)
	return claims, err
}

// Result waits for the next callback and fails the test if the login failed.
func (rp *RelyingParty) Result(t *testing.T) Result {
	t.Helper()
	select {
	case r := <-rp.results:
		if r.err != nil {
			t.Fatalf("relying party: %v", r.err)
		}
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the relying party got no callback")
	}
	return Result{}
}
