package pages_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/issuer/passkey/passkeytest"
)

func TestBadCSRF(t *testing.T) {
	e := newEnv(t, nil)
	e.flow.add("req-1", pages.AuthRequestInfo{ClientID: "tax", ClientName: "Agencia Tributaria"})
	b := e.browser()
	b.get("/login?authRequestID=req-1")
	good := b.csrf

	t.Run("form without token", func(t *testing.T) {
		r := b.postForm("/consent", url.Values{"csrf_token": {""}, "authRequestID": {"req-1"}, "decision": {"approve"}})
		wantPage(t, r, http.StatusForbidden, "es", "La página caducó")
	})
	t.Run("form with a forged token", func(t *testing.T) {
		r := b.postForm("/logout", url.Values{"csrf_token": {strings.Repeat("A", 86)}})
		wantPage(t, r, http.StatusForbidden, "es", "La página caducó")
	})
	t.Run("another browser's token", func(t *testing.T) {
		other := e.browser()
		other.get("/login")
		other.csrf = good
		r := other.postForm("/recover", url.Values{"code": {"ABCD-EFGH-JKMN-PQRS"}})
		wantPage(t, r, http.StatusForbidden, "es", "La página caducó")
	})
	t.Run("json without header", func(t *testing.T) {
		b.csrf = ""
		p := wantProblem(t, b.postJSON("/login/begin", `{}`), http.StatusForbidden, "csrf")
		if p.Title != "La página caducó" {
			t.Errorf("title: got %q, want the Spanish one", p.Title)
		}
		b.csrf = good
	})
	t.Run("cross-site json", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.srv.URL+"/login/begin", strings.NewReader(`{}`))
		req.Header.Set("X-CSRF-Token", good)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		wantProblem(t, b.do(req), http.StatusForbidden, "csrf")
	})
	t.Run("english", func(t *testing.T) {
		b.lang = "en"
		r := b.postForm("/consent", url.Values{"csrf_token": {"x"}, "authRequestID": {"req-1"}, "decision": {"approve"}})
		wantPage(t, r, http.StatusForbidden, "en", "This page has expired")
		b.lang = ""
	})
	if len(e.flow.completed) != 0 {
		t.Errorf("completed: got %v, want nothing", e.flow.completed)
	}
}

func TestMalformedJSON(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	path := e.enrol(e.citizen("Ana"))
	b.get(path)
	endpoints := []string{"/login/begin", "/login/finish", path + "/begin", path + "/finish", "/recover/begin", "/recover/finish",
		"/account/passkeys/begin", "/account/passkeys/finish"}
	bodies := []string{``, `not json`, `[]`, `null`, `"x"`, `{} {}`, `{"credential":`, strings.Repeat(`[`, 100000)}
	for _, ep := range endpoints {
		for _, body := range bodies {
			r := b.postJSON(ep, body)
			if r.status >= 500 {
				t.Errorf("%s %.20q: got %d, want a 4xx", ep, body, r.status)
				continue
			}
			wantProblem(t, r, http.StatusBadRequest, "malformed-request")
		}
	}
	// A finish without its credential.
	for _, ep := range []string{"/login/finish", path + "/finish"} {
		wantProblem(t, b.postJSON(ep, `{"name":"x"}`), http.StatusBadRequest, "malformed-request")
	}
	// A well-formed body whose credential is garbage, in a real ceremony.
	options(t, b.postJSON("/login/begin", `{}`))
	wantProblem(t, b.postJSON("/login/finish", `{"credential":{"id":"AA","type":"public-key"}}`), http.StatusBadRequest, "malformed-request")
	// No ceremony at all.
	wantProblem(t, b.postJSON("/login/finish", `{"credential":{"id":"AA"}}`), http.StatusBadRequest, "ceremony-expired")
}

func TestEnrolmentLinks(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ana := e.citizen("Ana")

	t.Run("unknown", func(t *testing.T) {
		b := e.browser()
		wantPage(t, b.get("/enrol/no-such-token"), http.StatusNotFound, "es", "Enlace no válido")
		b.lang = "en"
		wantPage(t, b.get("/enrol/no-such-token"), http.StatusNotFound, "en", "Link not valid")
		b.get("/login")
		wantProblem(t, b.postJSON("/enrol/no-such-token/begin", `{}`), http.StatusNotFound, "enrolment-invalid")
	})
	t.Run("expired", func(t *testing.T) {
		link, exp, err := pages.Enrol(ctx, e.store, ana.ID, "test", time.Hour, baseURL)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Until(exp); d < 59*time.Minute || d > time.Hour {
			t.Errorf("expiry: got %v from now, want 1h", d)
		}
		path := strings.TrimPrefix(link, baseURL)
		b := e.browser()
		wantPage(t, b.get(path), http.StatusOK, "es")
		options(t, b.postJSON(path+"/begin", `{}`))
		e.clock.Add(2 * time.Hour)
		defer e.clock.Add(-2 * time.Hour)
		wantPage(t, b.get(path), http.StatusGone, "es", "Enlace caducado")
		wantProblem(t, b.postJSON(path+"/begin", `{}`), http.StatusGone, "enrolment-expired")
		wantProblem(t, b.postJSON(path+"/finish", `{"credential":{}}`), http.StatusGone, "enrolment-expired")
	})
	t.Run("used by a concurrent finish", func(t *testing.T) {
		path := e.enrol(ana)
		b1, b2 := e.browser(), e.browser()
		b1.get(path)
		b2.get(path)
		o1 := options(t, b1.postJSON(path+"/begin", `{}`))
		o2 := options(t, b2.postJSON(path+"/begin", `{}`))
		c1, _ := e.auth.Create(t, o1, passkeytest.Gesture{})
		c2, id2 := e.auth.Create(t, o2, passkeytest.Gesture{})
		finishOK(t, b1.postJSON(path+"/finish", map[string]any{"credential": json.RawMessage(c1)}))
		wantProblem(t, b2.postJSON(path+"/finish", map[string]any{"credential": json.RawMessage(c2)}), http.StatusGone, "enrolment-used")
		if _, err := e.store.Passkey(ctx, id2); !errors.Is(err, issuer.ErrNotFound) {
			t.Errorf("second browser's passkey: got %v, want not stored", err)
		}
	})
	t.Run("failed ceremony leaves the link usable", func(t *testing.T) {
		path := e.enrol(ana)
		b := e.browser()
		b.get(path)
		opts := options(t, b.postJSON(path+"/begin", `{}`))
		bad, _ := e.auth.Create(t, opts, passkeytest.Gesture{NoUV: true})
		wantProblem(t, b.postJSON(path+"/finish", map[string]any{"credential": json.RawMessage(bad)}), http.StatusBadRequest, "user-verification")
		wantPage(t, b.get(path), http.StatusOK, "es", "Crea tu llave de acceso")
		codes, _ := b.enrolPasskey(path, "")
		if len(codes) != 10 {
			t.Errorf("codes: got %d, want 10", len(codes))
		}
	})
	t.Run("helper", func(t *testing.T) {
		if _, _, err := pages.Enrol(ctx, e.store, "no-such-citizen", "test", 0, baseURL); !errors.Is(err, issuer.ErrNotFound) {
			t.Errorf("unknown citizen: got %v, want ErrNotFound", err)
		}
		link, exp, err := pages.Enrol(ctx, e.store, ana.ID, "test", 0, baseURL+"/")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(link, baseURL+"/enrol/") || len(strings.TrimPrefix(link, baseURL+"/enrol/")) != 43 {
			t.Errorf("link: got %q, want %s/enrol/ and 256 bits", link, baseURL)
		}
		if d := time.Until(exp); d < 23*time.Hour || d > 24*time.Hour {
			t.Errorf("default expiry: got %v from now, want 24h", d)
		}
	})
}

// TestWebAuthnFailures checks that every way a ceremony can fail ends in a
// clear problem in the citizen's language, whose type is a page.
func TestWebAuthnFailures(t *testing.T) {
	e := newEnv(t, nil)
	ana := e.citizen("Ana")
	enroller := e.browser()
	_, credID := enroller.enrolPasskey(e.enrol(ana), "x")

	b := e.browser()
	b.get("/login")
	finishOK(t, b.login(credID, passkeytest.Gesture{Counter: 5}, ""))

	tests := []struct {
		name   string
		g      passkeytest.Gesture
		cred   []byte
		status int
		slug   string
		es, en string
	}{
		{"no user verification", passkeytest.Gesture{NoUV: true, Counter: 6}, credID, 400, "user-verification", "Falta confirmar que eres tú", "We need to confirm that it is you"},
		{"wrong challenge", passkeytest.Gesture{Challenge: "AAAAAAAAAAAAAAAAAAAAAA", Counter: 6}, credID, 400, "webauthn-failed", "No se pudo verificar la llave de acceso", "Your passkey could not be verified"},
		{"wrong origin", passkeytest.Gesture{Origin: "http://localhost.evil.example", Counter: 6}, credID, 400, "webauthn-failed", "No se pudo verificar la llave de acceso", "Your passkey could not be verified"},
		{"counter went back", passkeytest.Gesture{Counter: 2}, credID, 403, "passkey-refused", "Llave de acceso rechazada por seguridad", "Passkey refused for your security"},
		{"unknown passkey", passkeytest.Gesture{Counter: 6}, []byte("not-a-registered-credential-id!!"), 400, "unknown-passkey", "Llave de acceso desconocida", "Unknown passkey"},
	}
	e.auth.SetUserHandle([]byte("not-a-registered-credential-id!!"), []byte(ana.ID))
	for _, tc := range tests {
		for _, lang := range []string{"es", "en"} {
			t.Run(tc.name+"/"+lang, func(t *testing.T) {
				b.setCookie("lang", lang)
				p := wantProblem(t, b.login(tc.cred, tc.g, ""), tc.status, tc.slug)
				want := map[string]string{"es": tc.es, "en": tc.en}[lang]
				if p.Title != want {
					t.Errorf("title: got %q, want %q", p.Title, want)
				}
				// The problem type is a page in the same language.
				page := b.get(strings.TrimPrefix(p.Type, baseURL))
				wantPage(t, page, http.StatusOK, lang, want)
			})
		}
	}
	b.setCookie("lang", "es")
	if !strings.Contains(e.logs.String(), "signature counter did not increase") {
		t.Errorf("logs: want the counter refusal logged")
	}
	if strings.Contains(e.logs.String(), passkeytest.B64(credID)) {
		t.Errorf("logs contain a credential ID")
	}

	// A ceremony is finished once.
	opts := options(t, b.postJSON("/login/begin", `{}`))
	ceremony := b.cookie("cedula_ceremony")
	cred := e.auth.Get(t, opts, credID, passkeytest.Gesture{Counter: 10})
	finishOK(t, b.postJSON("/login/finish", map[string]any{"credential": json.RawMessage(cred)}))
	b.setCookie("cedula_ceremony", ceremony)
	wantProblem(t, b.postJSON("/login/finish", map[string]any{"credential": json.RawMessage(cred)}), http.StatusBadRequest, "ceremony-expired")

	// Problem pages that do not exist.
	wantPage(t, b.get("/problems/nope"), http.StatusNotFound, "es", "Página no encontrada")
	wantPage(t, b.get("/no/such/page"), http.StatusNotFound, "es", "Página no encontrada")
}

func TestAuthRequestErrors(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	wantPage(t, b.get("/login?authRequestID=gone"), http.StatusNotFound, "es", "La solicitud de inicio de sesión caducó")
	wantPage(t, b.get("/consent"), http.StatusBadRequest, "es", "Solicitud no válida")
	wantPage(t, b.get("/consent?authRequestID=gone"), http.StatusNotFound, "es", "La solicitud de inicio de sesión caducó")
	// Without a session, consent sends the citizen to log in.
	e.flow.add("req-1", pages.AuthRequestInfo{ClientID: "tax", ClientName: "Agencia Tributaria"})
	wantRedirect(t, b.get("/consent?authRequestID=req-1"), "/login?authRequestID=req-1")
	b.get("/login")
	wantRedirect(t, b.postForm("/consent", url.Values{"authRequestID": {"req-1"}, "decision": {"approve"}}), "/login?authRequestID=req-1")
	wantPage(t, b.postForm("/consent", url.Values{"authRequestID": {"req-1"}, "decision": {"maybe"}}), http.StatusBadRequest, "es", "Solicitud no válida")
}

func TestLanguage(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, accept, cookie string
		ui                   []string
		want, heading        string
	}{
		{"default", "", "", nil, "es", "Inicia sesión con tu llave de acceso"},
		{"accept-language en", "en-GB,en;q=0.9", "", nil, "en", "Sign in with your passkey"},
		{"accept-language fr falls back", "fr-FR", "", nil, "es", "Inicia sesión con tu llave de acceso"},
		{"ui_locales", "es", "", []string{"en"}, "en", "Sign in with your passkey"},
		{"cookie wins", "en", "es", []string{"en"}, "es", "Inicia sesión con tu llave de acceso"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "req-" + string(rune('a'+i))
			e.flow.add(id, pages.AuthRequestInfo{ClientID: "tax", ClientName: "Agencia Tributaria", UILocales: tc.ui})
			b := e.browser()
			b.lang = tc.accept
			if tc.cookie != "" {
				b.setCookie("lang", tc.cookie)
			}
			r := b.get("/login?authRequestID=" + id)
			wantPage(t, r, http.StatusOK, tc.want, tc.heading)
			if got := r.header.Get("Content-Language"); got != tc.want {
				t.Errorf("Content-Language: got %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("switch", func(t *testing.T) {
		b := e.browser()
		r := b.get("/login")
		wantPage(t, r, http.StatusOK, "es", `href="/lang?to=en&amp;next=%2Flogin"`, `lang="en" hreflang="en">English</a>`)
		r = b.get("/lang?to=en&next=%2Frecover")
		wantRedirect(t, r, "/recover")
		if b.cookie("lang") != "en" {
			t.Errorf("lang cookie: got %q, want en", b.cookie("lang"))
		}
		wantPage(t, b.get("/recover"), http.StatusOK, "en", "Recover access", `href="/lang?to=es&amp;next=%2Frecover"`)
		wantRedirect(t, b.get("/lang?to=es&next=//evil.example/"), "/login")
		wantRedirect(t, b.get("/lang?to=es&next=https://evil.example/"), "/login")
		wantRedirect(t, b.get("/lang?to=es&next=/%5Cevil.example"), "/login")
		wantPage(t, b.get("/lang?to=fr&next=/login"), http.StatusBadRequest, "es", "Solicitud no válida")
	})
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, func(c *pages.Config) {
		c.Limits.LoginPerIP = pages.Rate{N: 2, Per: time.Hour}
		c.Limits.RecoverPerIP = pages.Rate{N: 1, Per: time.Hour}
		c.Limits.EnrolPerIP = pages.Rate{N: 1, Per: time.Hour}
	})
	b := e.browser()
	b.get("/login")
	options(t, b.postJSON("/login/begin", `{}`))
	options(t, b.postJSON("/login/begin", `{}`))
	r := b.postJSON("/login/begin", `{}`)
	wantProblem(t, r, http.StatusTooManyRequests, "rate-limited")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("Retry-After: got none, want one")
	}

	wantPage(t, b.postForm("/recover", url.Values{"code": {"0000-0000-0000-0000"}}), http.StatusBadRequest, "es", "Ese código no es válido")
	r = b.postForm("/recover", url.Values{"code": {"0000-0000-0000-0001"}})
	wantPage(t, r, http.StatusTooManyRequests, "es", "Demasiados intentos")

	path := e.enrol(e.citizen("Ana"))
	wantPage(t, b.get(path), http.StatusOK, "es")
	wantPage(t, b.get(path), http.StatusTooManyRequests, "es", "Demasiados intentos")

	// The limit is per IP, not per browser: all test clients are 127.0.0.1.
	other := e.browser()
	other.get("/login")
	wantProblem(t, other.postJSON("/login/begin", `{}`), http.StatusTooManyRequests, "rate-limited")
}

func TestPerCitizenLoginLimit(t *testing.T) {
	e := newEnv(t, func(c *pages.Config) { c.Limits.LoginPerCitizen = pages.Rate{N: 1, Per: time.Hour} })
	ana := e.citizen("Ana")
	_, credID := e.browser().enrolPasskey(e.enrol(ana), "x")
	b := e.browser()
	b.get("/login")
	finishOK(t, b.login(credID, passkeytest.Gesture{Counter: 1}, ""))
	wantProblem(t, b.login(credID, passkeytest.Gesture{Counter: 2}, ""), http.StatusTooManyRequests, "rate-limited")
	// Another citizen is not limited.
	_, bobCred := e.browser().enrolPasskey(e.enrol(e.citizen("Bob")), "x")
	finishOK(t, b.login(bobCred, passkeytest.Gesture{Counter: 1}, ""))
}

func TestConfigValidate(t *testing.T) {
	err := pages.Config{BaseURL: "https://x/", SessionTTL: -1, Limits: pages.Limits{LoginPerIP: pages.Rate{N: 3}}}.Validate()
	if err == nil {
		t.Fatal("got nil, want an error")
	}
	for _, want := range []string{"store", "passkey service", "auth flow", "ttl", "rate limit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to mention %q", err, want)
		}
	}
}
