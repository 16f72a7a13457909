package pages_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cedula/cedula/issuer/pages"
)

// TestAuthorizeErrorPage checks the page of an authorization error that
// cannot go back to the agency: its status, language, reason and code,
// and that a code or status that is not fit to show is not shown.
func TestAuthorizeErrorPage(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name   string
		target string
		lang   string // Accept-Language
		in     pages.AuthorizeError
		status int
		want   []string
		absent []string
	}{
		{"unknown client", "/authorize?client_id=x", "es", pages.AuthorizeError{Status: 400, Code: "invalid_client", Reason: pages.ReasonClient},
			400, []string{`<html lang="es">`, "No reconocemos a la agencia", "<code>invalid_client</code>"}, nil},
		{"ui_locales", "/authorize?ui_locales=en-GB%20es", "es", pages.AuthorizeError{Status: 400, Code: "invalid_request", Reason: pages.ReasonRedirectURI},
			400, []string{`<html lang="en">`, "We cannot send you back to the agency"}, nil},
		{"expired request", "/authorize/callback?id=x", "en", pages.AuthorizeError{Status: 404, Code: "invalid_request", Reason: pages.ReasonExpired},
			404, []string{"The sign-in request has expired"}, nil},
		{"server error", "/authorize", "en", pages.AuthorizeError{Status: 500, Code: "server_error", Reason: pages.ReasonServer},
			500, []string{"Something went wrong on our side", "<code>server_error</code>"}, nil},
		{"a code not fit to show", "/authorize", "en", pages.AuthorizeError{Status: 400, Code: "<b>Bad</b> code", Reason: "nonsense"},
			400, []string{"The agency&#39;s request is not valid", "<code>invalid_request</code>"}, []string{"Bad", "nonsense", "[["}},
		{"a status not fit to send", "/authorize", "en", pages.AuthorizeError{Status: 302, Code: "invalid_request", Reason: pages.ReasonMalformed},
			400, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", tc.target, nil)
			r.Header.Set("Accept-Language", tc.lang)
			e.h.AuthorizeError(w, r, tc.in)
			body := w.Body.String()
			if w.Code != tc.status {
				t.Errorf("status: got %d, want %d", w.Code, tc.status)
			}
			if loc := w.Header().Get("Location"); loc != "" {
				t.Errorf("Location: got %q, want none", loc)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("content type: got %q, want text/html", ct)
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("page: want %q in it", s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(body, s) {
					t.Errorf("page: got %q in it", s)
				}
			}
		})
	}
	if !strings.Contains(e.logs.String(), "authorization request refused") {
		t.Errorf("logs: want a line for each refusal")
	}
}
