package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/cedula/cedula/internal/browsertest"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/server"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/pages"
)

// relyingParty is an agency's web application built on coreos/go-oidc and
// golang.org/x/oauth2 — code nobody on this team wrote — using the
// authorization code flow with PKCE.
type relyingParty struct {
	t        *testing.T
	srv      *httptest.Server
	provider *oidc.Provider
	conf     oauth2.Config
	mu       sync.Mutex
	pending  map[string][2]string // state → nonce, verifier
	results  chan rpResult
}

type rpResult struct {
	idToken  *oidc.IDToken
	userinfo *oidc.UserInfo
	claims   map[string]any
	err      error
}

func newRelyingParty(t *testing.T, issuerURL, clientID string) *relyingParty {
	rp := &relyingParty{t: t, pending: map[string][2]string{}, results: make(chan rpResult, 4)}
	mux := http.NewServeMux()
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	p, err := oidc.NewProvider(context.Background(), issuerURL)
	if err != nil {
		t.Fatal(err)
	}
	rp.provider = p
	rp.conf = oauth2.Config{ClientID: clientID, Endpoint: p.Endpoint(), RedirectURL: rp.srv.URL + "/cb",
		Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 16)
		rand.Read(b)
		state, nonce, verifier := hex.EncodeToString(b[:8]), hex.EncodeToString(b[8:]), oauth2.GenerateVerifier()
		rp.mu.Lock()
		rp.pending[state] = [2]string{nonce, verifier}
		rp.mu.Unlock()
		http.Redirect(w, r, rp.conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
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

func (rp *relyingParty) callback(r *http.Request) rpResult {
	ctx := r.Context()
	if e := r.URL.Query().Get("error"); e != "" {
		return rpResult{err: fmt.Errorf("authorization error %s", e)}
	}
	rp.mu.Lock()
	pend, ok := rp.pending[r.URL.Query().Get("state")]
	delete(rp.pending, r.URL.Query().Get("state"))
	rp.mu.Unlock()
	if !ok {
		return rpResult{err: fmt.Errorf("unknown state")}
	}
	tok, err := rp.conf.Exchange(ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(pend[1]))
	if err != nil {
		return rpResult{err: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.provider.Verifier(&oidc.Config{ClientID: rp.conf.ClientID}).Verify(ctx, raw)
	if err != nil {
		return rpResult{err: fmt.Errorf("ID token: %w", err)}
	}
	if idt.Nonce != pend[0] {
		return rpResult{err: fmt.Errorf("nonce mismatch")}
	}
	ui, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return rpResult{err: fmt.Errorf("userinfo: %w", err)}
	}
	var claims map[string]any
	ui.Claims(&claims)
	return rpResult{idToken: idt, userinfo: ui, claims: claims}
}

func (rp *relyingParty) result(t *testing.T) rpResult {
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
	return rpResult{}
}

// startServer runs a whole Cedula server on SQLite, reachable at
// http://localhost:PORT (a secure context and a valid passkey RP ID).
func startServer(t *testing.T, mutate func(*config.Config)) (*server.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.PublicURL = fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	cfg.Listen = ln.Addr().String()
	if mutate != nil {
		mutate(&cfg)
	}
	t.Setenv("CEDULA_KEK", strings.Repeat("cd", 32))
	s, err := server.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return s, cfg.PublicURL
}

// TestCitizenJourneyInChromium is the end-to-end check of the passkey-only
// OpenID provider, in real headless Chromium with a virtual authenticator:
// enrolment link → passkey → recovery codes → an agency's relying party
// (go-oidc) logs the citizen in with the code flow and PKCE, verifies the ID
// token against the JWKS and reads userinfo → a second login by autofill →
// passkey management → recovery with a code on a new device. axe-core runs
// on every page and must find nothing.
func TestCitizenJourneyInChromium(t *testing.T) {
	ctx := browsertest.Start(t, 4*time.Minute)
	axe := browsertest.AxeSource(t)
	s, origin := startServer(t, nil)
	bg := context.Background()

	rpClient := "tax-agency"
	rp := newRelyingParty(t, origin, rpClient)
	if err := s.Store.PutClient(bg, issuer.Client{ID: rpClient, Name: "Agencia Tributaria", RedirectURIs: []string{rp.srv.URL + "/cb"},
		GrantTypes: []string{issuer.GrantAuthorizationCode}, AuthMethod: issuer.AuthNone, SubjectType: issuer.SubjectPairwise}); err != nil {
		t.Fatal(err)
	}
	ana := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: "Ana", FamilyName: "García López", Birthdate: "1990-04-12",
		Email: "ana@example.org", Locale: "es", Created: time.Now()}
	if err := s.Store.CreateCitizen(bg, ana); err != nil {
		t.Fatal(err)
	}
	link, _, err := pages.Enrol(bg, s.Store, ana.ID, "test", time.Hour, origin)
	if err != nil {
		t.Fatal(err)
	}

	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	waitPath := func(path string) {
		t.Helper()
		if err := browsertest.WaitPath(ctx, path, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	presence := func(id webauthn.AuthenticatorID, on bool) {
		t.Helper()
		if err := browsertest.SetPresence(ctx, id, on); err != nil {
			t.Fatal(err)
		}
	}

	// 1. Enrolment through the link.
	do("open the enrolment link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("form.ceremony")))
	browsertest.CheckAxe(t, ctx, axe, "enrolment")
	phone, err := browsertest.AddAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	do("create the passkey", chromedp.SetValue(chromedp.ID("passkey-name"), "Teléfono"),
		chromedp.Click(chromedp.CSS("form.ceremony button[type=submit]")), chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	codes := strings.Fields(eval(`Array.from(document.querySelectorAll("#recovery-codes li code")).map(c => c.textContent).join(" ")`))
	if len(codes) != 10 {
		t.Fatalf("recovery codes: got %d, want 10", len(codes))
	}
	browsertest.CheckAxe(t, ctx, axe, "recovery codes")
	do("continue", chromedp.Click(chromedp.CSS("#recovery-codes a[data-continue]")))
	waitPath("/account")
	browsertest.CheckAxe(t, ctx, axe, "account")

	// 2. Passkey management: rename.
	pks, _ := s.Store.PasskeysOf(bg, ana.ID)
	if len(pks) != 1 {
		t.Fatalf("passkeys after enrolment: got %d, want 1", len(pks))
	}
	renameID := "rename-" + eval(`document.querySelector('form[action="/account/passkeys/rename"] input[name=id]').value`)
	do("rename", chromedp.SetValue(chromedp.ID(renameID), "Mi teléfono"),
		chromedp.Submit(chromedp.CSS(`form[action="/account/passkeys/rename"]`)))
	waitPath("/account")
	if pks, _ = s.Store.PasskeysOf(bg, ana.ID); len(pks) != 1 || pks[0].Name != "Mi teléfono" {
		t.Errorf("after rename: got %+v, want one passkey named Mi teléfono", pks)
	}

	// 3. Sign out, then the agency logs Ana in: the login page's autofill
	// (conditional mediation) answers as soon as the authenticator has a
	// user present.
	presence(phone, false)
	do("sign out", chromedp.Click(chromedp.CSS("form.logout button")))
	waitPath("/login")
	browsertest.CheckAxe(t, ctx, axe, "login")
	do("go to the agency", chromedp.Navigate(rp.srv.URL+"/start"))
	waitPath("/login")
	browsertest.CheckAxe(t, ctx, axe, "login for an agency")
	presence(phone, true)
	do("reload: the pending autofill request started without a user present", chromedp.Reload())
	waitPath("/consent")
	if body := eval(`document.querySelector("main").innerText`); !strings.Contains(body, "Agencia Tributaria") {
		t.Errorf("consent page does not name the agency: %q", body)
	}
	browsertest.CheckAxe(t, ctx, axe, "consent")
	do("allow", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), chromedp.WaitVisible(chromedp.ID("rp-done")))
	first := rp.result(t)
	if first.idToken.Subject == "" || first.idToken.Subject == ana.ID {
		t.Errorf("sub = %q; want a pairwise identifier, not the internal ID", first.idToken.Subject)
	}
	if first.claims["given_name"] != "Ana" || first.claims["birthdate"] != "1990-04-12" || first.userinfo.Email != "ana@example.org" {
		t.Errorf("userinfo claims %v, want Ana's", first.claims)
	}

	// 4. A second login for the agency, by autofill again, from a fresh
	// sign-in.
	presence(phone, false)
	do("back to the account", chromedp.Navigate(origin+"/account"), chromedp.WaitVisible(chromedp.CSS("form.logout button")),
		chromedp.Click(chromedp.CSS("form.logout button")))
	waitPath("/login")
	do("the agency again", chromedp.Navigate(rp.srv.URL+"/start"))
	waitPath("/login")
	presence(phone, true)
	do("reload: the pending autofill request started without a user present", chromedp.Reload())
	waitPath("/consent")
	do("allow again", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), chromedp.WaitVisible(chromedp.ID("rp-done")))
	if second := rp.result(t); second.idToken.Subject != first.idToken.Subject {
		t.Errorf("second login sub %q, want the same pairwise sub %q", second.idToken.Subject, first.idToken.Subject)
	}

	// 5. Recovery on a new phone: the old one is lost.
	presence(phone, false)
	do("sign out", chromedp.Navigate(origin+"/account"), chromedp.WaitVisible(chromedp.CSS("form.logout button")),
		chromedp.Click(chromedp.CSS("form.logout button")))
	waitPath("/login")
	if _, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: phone}); err != nil {
		t.Fatal(err)
	}
	newPhone, err := browsertest.AddAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	presence(newPhone, false) // no autofill answer on pages that ask
	do("open recovery", chromedp.Navigate(origin+"/recover"), chromedp.WaitVisible(chromedp.ID("code")))
	browsertest.CheckAxe(t, ctx, axe, "recover")
	do("enter a code", chromedp.SendKeys(chromedp.ID("code"), codes[3]+"\n"))
	waitPath("/recover/passkey")
	browsertest.CheckAxe(t, ctx, axe, "recover: new passkey")
	presence(newPhone, true)
	do("register the new phone and drop the old passkey", chromedp.Click(chromedp.ID("remove-others")),
		chromedp.Click(chromedp.CSS("form.ceremony button[type=submit]")))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if pks, _ = s.Store.PasskeysOf(bg, ana.ID); len(pks) == 1 && pks[0].Name != "Mi teléfono" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after recovery: passkeys %+v, want only the new one", pks)
		}
	}
	if left, _ := s.Store.RecoveryCodesLeft(bg, ana.ID); left != 9 {
		t.Errorf("recovery codes left: got %d, want 9", left)
	}
	// The used code does not work twice.
	presence(newPhone, false)
	do("reuse the code", chromedp.Navigate(origin+"/recover"), chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.SendKeys(chromedp.ID("code"), codes[3]+"\n"), chromedp.WaitVisible(chromedp.ID("error-summary")))
	browsertest.CheckAxe(t, ctx, axe, "recover: used code")

	// 6. The new phone logs in to the agency; the agency sees the same Ana.
	// (Registering the new passkey signed Ana in; sign out first so that
	// the new phone has to prove itself.)
	do("sign out after recovery", chromedp.Navigate(origin+"/account"), chromedp.WaitVisible(chromedp.CSS("form.logout button")),
		chromedp.Click(chromedp.CSS("form.logout button")))
	waitPath("/login")
	do("the agency with the new phone", chromedp.Navigate(rp.srv.URL+"/start"))
	waitPath("/login")
	presence(newPhone, true)
	do("reload", chromedp.Reload())
	waitPath("/consent")
	do("allow", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), chromedp.WaitVisible(chromedp.ID("rp-done")))
	if third := rp.result(t); third.idToken.Subject != first.idToken.Subject {
		t.Errorf("after recovery sub %q, want %q", third.idToken.Subject, first.idToken.Subject)
	}
}
