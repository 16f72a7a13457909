package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cedula/cedula/issuer"
)

// browserAccept is what Chromium sends when it follows a link.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

// TestAuthorizeErrorPages checks the answers to authorization requests
// whose error cannot go back to the agency (OIDC Core §3.1.2.6, RFC 6749
// §4.1.2.1): a browser gets Cedula's page in the citizen's language, with
// the error code and the reason in plain words, never a redirect; a client
// that asks for JSON gets the RFC 6749 JSON error.
func TestAuthorizeErrorPages(t *testing.T) {
	s, origin := startServer(t, nil)
	const redirect = "https://agency.example/cb"
	if err := s.Store.PutClient(context.Background(), issuer.Client{ID: "agency", Name: "Agencia", RedirectURIs: []string{redirect},
		GrantTypes: []string{issuer.GrantAuthorizationCode}, AuthMethod: issuer.AuthNone, SubjectType: issuer.SubjectPairwise}); err != nil {
		t.Fatal(err)
	}
	request := func(mod func(url.Values)) string {
		q := url.Values{"client_id": {"agency"}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"st"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
		if mod != nil {
			mod(q)
		}
		return "/authorize?" + q.Encode()
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(t *testing.T, path string, header http.Header) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", origin+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	browser := func(lang string) http.Header {
		return http.Header{"Accept": {browserAccept}, "Accept-Language": {lang}}
	}

	for _, tc := range []struct {
		name   string
		path   string
		header http.Header
		status int
		lang   string
		want   []string // in the page
	}{
		{"unknown client", request(func(q url.Values) { q.Set("client_id", "nobody") }), browser("es-UY,es;q=0.9"),
			400, "es", []string{"No reconocemos a la agencia", "<code>invalid_client</code>"}},
		{"unknown client, English browser", request(func(q url.Values) { q.Set("client_id", "nobody") }), browser("en-GB,en;q=0.9"),
			400, "en", []string{"We do not recognise the agency", "<code>invalid_client</code>"}},
		{"no client_id", request(func(q url.Values) { q.Del("client_id") }), browser("es"),
			400, "es", []string{"No reconocemos a la agencia", "<code>invalid_request</code>"}},
		{"unregistered redirect_uri", request(func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }), browser("es"),
			400, "es", []string{"No podemos devolverte a la agencia", "<code>invalid_request</code>"}},
		{"no redirect_uri", request(func(q url.Values) { q.Del("redirect_uri") }), browser("es"),
			400, "es", []string{"No podemos devolverte a la agencia"}},
		{"malformed max_age", request(func(q url.Values) { q.Set("max_age", "soon") }), browser("es"),
			400, "es", []string{"La solicitud de la agencia no es válida", "<code>invalid_request</code>"}},
		{"unreadable query", "/authorize?client_id=agency&redirect_uri=%zz", browser("es"),
			400, "es", []string{"La solicitud de la agencia no es válida"}},
		{"unknown request_uri (RFC 9126 §4)", "/authorize?" + url.Values{"client_id": {"agency"}, "request_uri": {"urn:ietf:params:oauth:request_uri:nope"}}.Encode(),
			browser("es"), 400, "es", []string{"Este enlace de inicio de sesión ya no sirve", "<code>invalid_request_uri</code>"}},
		{"callback of an unknown request", "/authorize/callback?id=nope", browser("es"),
			404, "es", []string{"La solicitud de inicio de sesión caducó"}},
		{"callback without id", "/authorize/callback", browser("es"),
			400, "es", []string{"La solicitud de la agencia no es válida"}},
		{"ui_locales over Accept-Language", request(func(q url.Values) { q.Set("client_id", "nobody"); q.Set("ui_locales", "en-US fr") }),
			browser("es"), 400, "en", []string{"We do not recognise the agency"}},
		{"the language switch over ui_locales", request(func(q url.Values) { q.Set("client_id", "nobody"); q.Set("ui_locales", "en") }),
			http.Header{"Accept": {browserAccept}, "Accept-Language": {"en"}, "Cookie": {"lang=es"}}, 400, "es", []string{"No reconocemos a la agencia"}},
		{"no Accept header", request(func(q url.Values) { q.Set("client_id", "nobody") }), http.Header{},
			400, "es", []string{"No reconocemos a la agencia"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := get(t, tc.path, tc.header)
			if res.StatusCode != tc.status {
				t.Errorf("status: got %d, want %d", res.StatusCode, tc.status)
			}
			if loc := res.Header.Get("Location"); loc != "" {
				t.Errorf("Location: got %q, want none", loc)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("content type: got %q, want text/html", ct)
			}
			if !strings.Contains(body, `<html lang="`+tc.lang+`">`) {
				t.Errorf("page language: want <html lang=%q>", tc.lang)
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("page: want %q in it", s)
				}
			}
			// zitadel's and the store's own words stay out of the page.
			for _, s := range []string{"ErrorType", "error_description", "unknown client", "is missing", "client configuration",
				"error decoding form", "unknown or expired", "[["} {
				if strings.Contains(body, s) {
					t.Errorf("page: got %q in it", s)
				}
			}
		})
	}

	// A client that prefers JSON gets the RFC 6749 error.
	for _, tc := range []struct {
		name, path, accept string
		code               string
	}{
		{"unknown client", request(func(q url.Values) { q.Set("client_id", "nobody") }), "application/json", "invalid_client"},
		{"unregistered redirect_uri", request(func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }), "application/json, text/html;q=0.5", "invalid_request"},
		{"unknown request_uri", "/authorize?" + url.Values{"client_id": {"agency"}, "request_uri": {"urn:ietf:params:oauth:request_uri:nope"}}.Encode(),
			"application/json", "invalid_request_uri"},
	} {
		t.Run("json/"+tc.name, func(t *testing.T) {
			res, body := get(t, tc.path, http.Header{"Accept": {tc.accept}})
			var e struct {
				Error string `json:"error"`
			}
			if res.StatusCode != 400 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(body), &e) != nil {
				t.Fatalf("got %d %s %s, want 400 with JSON", res.StatusCode, res.Header.Get("Content-Type"), body)
			}
			if e.Error != tc.code {
				t.Errorf("error: got %q, want %q", e.Error, tc.code)
			}
			if loc := res.Header.Get("Location"); loc != "" {
				t.Errorf("Location: got %q, want none", loc)
			}
		})
	}

	// Errors the agency can be told still go back to it, and a good request
	// still goes on to the login page.
	for _, tc := range []struct {
		name, path, location string
	}{
		{"no PKCE from a public client", request(func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }), redirect + "?error=invalid_request"},
		{"a good request", request(nil), "/login?authRequestID="},
	} {
		t.Run("redirect/"+tc.name, func(t *testing.T) {
			res, _ := get(t, tc.path, browser("es"))
			if loc := res.Header.Get("Location"); res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, tc.location) {
				t.Errorf("got %d to %q, want 302 to %s…", res.StatusCode, loc, tc.location)
			}
		})
	}
}
