package pages_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/issuer/passkey/passkeytest"
)

var codeFormat = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)

// TestEnrolLoginConsent walks the citizen's whole path: enrolment link,
// passkey, recovery codes, account, sign-out, login for an agency,
// consent, and a second agency request reusing the session.
func TestEnrolLoginConsent(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ana := e.citizen("Ana")
	b := e.browser()
	path := e.enrol(ana)

	r := b.get(path)
	wantPage(t, r, http.StatusOK, "es", "Crea tu llave de acceso", "Hola, Ana.", `data-begin="`+path+`/begin"`)

	opts := options(t, b.postJSON(path+"/begin", map[string]any{}))
	pk := opts["publicKey"].(map[string]any)
	sel := pk["authenticatorSelection"].(map[string]any)
	if sel["residentKey"] != "required" || sel["userVerification"] != "required" {
		t.Errorf("authenticatorSelection: got %v, want resident key and user verification required", sel)
	}
	if got := b.cookie("cedula_ceremony"); got == "" {
		t.Errorf("ceremony cookie: got none, want one")
	}
	cred, credID := e.auth.Create(t, opts, passkeytest.Gesture{})
	res := b.postJSON(path+"/finish", map[string]any{"credential": json.RawMessage(cred), "name": "  Mi\tteléfono "})
	a := finishOK(t, res)
	if a.Redirect != "/account" {
		t.Errorf("redirect: got %q, want /account", a.Redirect)
	}
	if len(a.RecoveryCodes) != 10 {
		t.Fatalf("recovery codes: got %d, want 10", len(a.RecoveryCodes))
	}
	seen := map[string]bool{}
	for _, c := range a.RecoveryCodes {
		if !codeFormat.MatchString(c) || seen[c] {
			t.Errorf("recovery code %q: want XXXX-XXXX-XXXX-XXXX in Crockford base32, each different", c)
		}
		seen[c] = true
	}
	checkSessionCookie(t, res, false)
	if left, _ := e.store.RecoveryCodesLeft(ctx, ana.ID); left != 10 {
		t.Errorf("stored codes: got %d, want 10", left)
	}
	stored, err := e.store.Passkey(ctx, credID)
	if err != nil || stored.Name != "Mi teléfono" || stored.CitizenID != ana.ID {
		t.Errorf("stored passkey: got %+v, %v; want Ana's, named %q", stored, err, "Mi teléfono")
	}

	// The link was single use.
	wantPage(t, b.get(path), http.StatusGone, "es", "Enlace ya usado")

	r = b.get("/account")
	wantPage(t, r, http.StatusOK, "es", "Mi teléfono", "Te quedan 10 códigos sin usar.", "Solo en un dispositivo", "Nunca")

	wantRedirect(t, b.postForm("/logout", nil), "/login?done=signedout")
	wantRedirect(t, b.get("/account"), "/login")
	wantPage(t, b.get("/login?done=signedout"), http.StatusOK, "es", "Has cerrado la sesión.")

	// An agency asks; the citizen logs in with the passkey.
	e.flow.add("req-1", pages.AuthRequestInfo{ClientID: "tax", ClientName: "Agencia Tributaria", Scopes: []string{"openid", "profile", "purpose:tax-filing"},
		Claims: []string{"given_name", "birthdate"}, Purposes: []pages.Purpose{{Scope: "purpose:tax-filing",
			Name:        map[string]string{"es": "Presentar tu declaración", "en": "Filing your tax return"},
			Description: map[string]string{"es": "Tu nombre para la declaración.", "en": "Your name for the return."}}}})
	r = b.get("/login?authRequestID=req-1")
	wantPage(t, r, http.StatusOK, "es", "Agencia Tributaria te pide que inicies sesión.", `autocomplete="username webauthn"`,
		`name="authRequestID" value="req-1"`)
	res = b.login(credID, passkeytest.Gesture{Counter: 1}, "req-1")
	if a := finishOK(t, res); a.Redirect != "/consent?authRequestID=req-1" {
		t.Errorf("login redirect: got %q, want the consent page", a.Redirect)
	}
	checkSessionCookie(t, res, false)
	if p, _ := e.store.Passkey(ctx, credID); p.SignCount != 1 || p.LastUsed.IsZero() {
		t.Errorf("after login: got counter %d last used %v, want 1 and set", p.SignCount, p.LastUsed)
	}

	r = b.get("/consent?authRequestID=req-1")
	wantPage(t, r, http.StatusOK, "es", "¿Compartir tus datos con Agencia Tributaria?", "<h3>Presentar tu declaración</h3>",
		"Tu nombre para la declaración.", "Tu nombre, tu fecha de nacimiento y tu idioma preferido", "Sesión iniciada como Ana Pérez.", `value="approve"`)
	if strings.Contains(r.body, "purpose:") {
		t.Errorf("consent page: a raw purpose scope is shown")
	}
	before := time.Now()
	r = b.postForm("/consent", url.Values{"authRequestID": {"req-1"}, "decision": {"approve"}})
	wantRedirect(t, r, "https://agency.example/callback?code=c-req-1")
	got := e.flow.completed["req-1"]
	if got.citizenID != ana.ID || !slices.Equal(got.amr, []string{"hwk", "user", "mfa"}) || got.authTime.After(before) {
		t.Errorf("completion: got %+v, want Ana, amr [hwk user mfa], auth time of the login", got)
	}
	if !strings.Contains(e.logs.String(), "consent decision") || strings.Contains(e.logs.String(), ana.ID) || strings.Contains(e.logs.String(), "Ana") {
		t.Errorf("logs: want a consent decision line without the citizen's ID or name:\n%s", e.logs)
	}

	// A second request reuses the session: straight to consent.
	e.flow.add("req-2", pages.AuthRequestInfo{ClientID: "health", ClientName: "Salud"})
	wantRedirect(t, b.get("/login?authRequestID=req-2"), "/consent?authRequestID=req-2")
	wantPage(t, b.get("/consent?authRequestID=req-2"), http.StatusOK, "es", "Solo la confirmación de que eres tú")
	wantRedirect(t, b.postForm("/consent", url.Values{"authRequestID": {"req-2"}, "decision": {"deny"}}), "https://agency.example/callback?error=access_denied")
	if !slices.Equal(e.flow.denied, []string{"req-2"}) {
		t.Errorf("denied: got %v, want [req-2]", e.flow.denied)
	}

	// prompt=login: the session is not reused.
	e.flow.add("req-3", pages.AuthRequestInfo{ClientID: "tax", ClientName: "Agencia Tributaria", ForceLogin: true})
	wantPage(t, b.get("/login?authRequestID=req-3"), http.StatusOK, "es", "Inicia sesión con tu llave de acceso")
	// max_age: too old a session is not reused either.
	e.flow.add("req-4", pages.AuthRequestInfo{ClientID: "tax", ClientName: "Agencia Tributaria", MaxAge: time.Minute})
	e.clock.Add(2 * time.Minute)
	wantPage(t, b.get("/login?authRequestID=req-4"), http.StatusOK, "es", "Inicia sesión con tu llave de acceso")
	wantRedirect(t, b.get("/consent?authRequestID=req-4"), "/login?authRequestID=req-4")
}

func checkSessionCookie(t *testing.T, r response, secure bool) {
	t.Helper()
	for _, line := range r.header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil || c.Name != "cedula_session" {
			continue
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != secure || len(c.Value) < 43 {
			t.Errorf("session cookie: got %q, want HttpOnly, SameSite=Lax, Path=/, Secure=%v, 256 bits", line, secure)
		}
		return
	}
	t.Errorf("session cookie: got none in %v", r.header.Values("Set-Cookie"))
}

func TestSecureCookies(t *testing.T) {
	e := newEnv(t, func(c *pages.Config) { c.Secure = true })
	b := e.browser()
	path := e.enrol(e.citizen("Ana"))
	r := b.get(path)
	if lines := r.header.Values("Set-Cookie"); len(lines) != 1 || !strings.HasPrefix(lines[0], "__Host-cedula_csrf=") || !strings.Contains(lines[0], "Secure") {
		t.Errorf("CSRF cookie: got %v, want __Host-cedula_csrf, Secure", lines)
	}
	// The test talks http; pass the Secure cookies on as a browser would
	// over https.
	b.adopt(r)
	r = b.postJSON(path+"/begin", map[string]any{})
	b.adopt(r)
	cred, _ := e.auth.Create(t, options(t, r), passkeytest.Gesture{})
	r = b.postJSON(path+"/finish", map[string]any{"credential": json.RawMessage(cred)})
	finishOK(t, r)
	checkSessionCookie(t, r, true)
}
