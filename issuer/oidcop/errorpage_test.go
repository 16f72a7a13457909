package oidcop_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/cedula/cedula/issuer/oidcop"
)

// pageRecorder is an ErrorPage that remembers what it was asked to show.
type pageRecorder struct {
	mu     sync.Mutex
	status int
	err    *zoidc.Error
}

func (p *pageRecorder) page(w http.ResponseWriter, _ *http.Request, status int, e *zoidc.Error) {
	p.mu.Lock()
	p.status, p.err = status, e
	p.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, "<!doctype html><title>page</title>")
}

func (p *pageRecorder) take() (int, *zoidc.Error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, e := p.status, p.err
	p.status, p.err = 0, nil
	return s, e
}

// TestErrorPage checks which authorization errors the provider hands to
// Config.ErrorPage (those that cannot go back to the client, OIDC Core
// §3.1.2.6), with which status, code and reason; that nothing of zitadel's
// refusal (a Location) leaks around the page; and that redirects, good and
// bad, still pass through.
func TestErrorPage(t *testing.T) {
	rec := &pageRecorder{}
	e := newEnv(t, func(c *oidcop.Config) { c.ErrorPage = rec.page })
	_, challenge := pkce()
	good := func(mod func(url.Values)) string {
		q := codeRequest(publicClient, "http://127.0.0.1/cb", challenge)
		if mod != nil {
			mod(q)
		}
		return "/authorize?" + q.Encode()
	}
	for _, tc := range []struct {
		name   string
		path   string
		status int
		code   string
		reason error
	}{
		{"unknown client", good(func(q url.Values) { q.Set("client_id", "nobody") }), 400, "invalid_client", oidcop.ErrClient},
		{"no client_id", good(func(q url.Values) { q.Del("client_id") }), 400, "invalid_request", oidcop.ErrClient},
		{"unregistered redirect_uri", good(func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }), 400, "invalid_request", oidcop.ErrRedirectURI},
		{"no redirect_uri", good(func(q url.Values) { q.Del("redirect_uri") }), 400, "invalid_request", oidcop.ErrRedirectURI},
		{"undecodable parameter", good(func(q url.Values) { q.Set("max_age", "x") }), 400, "invalid_request", oidcop.ErrMalformed},
		{"unreadable query", "/authorize?client_id=" + publicClient + "&state=%zz", 400, "invalid_request", oidcop.ErrMalformed},
		{"foreign request_uri", "/authorize?client_id=" + publicClient + "&request_uri=https://evil.example/r", 400, "invalid_request_uri", oidcop.ErrRequestURI},
		{"unknown request_uri", "/authorize?client_id=" + publicClient + "&request_uri=urn:ietf:params:oauth:request_uri:nope", 400, "invalid_request_uri", oidcop.ErrRequestURI},
		{"callback of an unknown request", "/authorize/callback?id=nope", 404, "invalid_request", oidcop.ErrAuthRequest},
		{"callback without id", "/authorize/callback", 400, "invalid_request", oidcop.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.http.Get(e.srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			status, got := rec.take()
			if got == nil {
				t.Fatalf("ErrorPage was not called; the answer was %d %s", res.StatusCode, res.Header.Get("Content-Type"))
			}
			if status != tc.status || res.StatusCode != tc.status {
				t.Errorf("status: got %d (answered %d), want %d", status, res.StatusCode, tc.status)
			}
			if string(got.ErrorType) != tc.code || !errors.Is(got, tc.reason) {
				t.Errorf("error: got %s (parent %v), want %s with %v", got.ErrorType, got.Parent, tc.code, tc.reason)
			}
			if loc := res.Header.Get("Location"); loc != "" {
				t.Errorf("Location: got %q, want none", loc)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("content type: got %q, want only the page's", ct)
			}
		})
	}

	for _, tc := range []struct {
		name, path string
		status     int
		code       string
	}{
		{"unknown client", good(func(q url.Values) { q.Set("client_id", "nobody") }), 400, "invalid_client"},
		{"callback of an unknown request", "/authorize/callback?id=nope", 404, "invalid_request"},
	} {
		t.Run("a client that prefers JSON/"+tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.srv.URL+tc.path, nil)
			req.Header.Set("Accept", "application/json")
			res, err := e.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if _, got := rec.take(); got != nil {
				t.Errorf("ErrorPage: got called with %v, want JSON instead", got)
			}
			if res.StatusCode != tc.status || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") ||
				!strings.Contains(string(body), `"error":"`+tc.code+`"`) {
				t.Errorf("got %d %s, want %d with the RFC 6749 JSON error %s", res.StatusCode, body, tc.status, tc.code)
			}
		})
	}

	t.Run("redirects pass through", func(t *testing.T) {
		// An error the client may be told goes back to it.
		back := e.authorize(codeRequest(publicClient, "http://127.0.0.1/cb", ""))
		if back.Query().Get("error") != "invalid_request" || back.Query().Get("state") != "st-1" {
			t.Errorf("got %s, want error=invalid_request with the state", back)
		}
		// A good request reaches the login page, and the callback issues
		// the code.
		back = e.authorize(codeRequest(publicClient, "http://127.0.0.1/cb", challenge))
		if back.Query().Get("code") == "" {
			t.Errorf("got %s, want a code", back)
		}
		if _, got := rec.take(); got != nil {
			t.Errorf("ErrorPage: got called with %v, want redirects only", got)
		}
	})
}
