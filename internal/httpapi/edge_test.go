package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cedula/cedula/internal/httpapi"
)

var errSentinel = errors.New("room: the thing is gone")

const secret = "db password is hunter2"

func newEdge(t *testing.T) (*httpapi.Edge, *bytes.Buffer, *prometheus.Registry) {
	t.Helper()
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	ed := httpapi.New(httpapi.Config{BaseURL: "https://id.example.gob", Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Registry: reg,
		Classifiers: []httpapi.Classifier{func(err error) *httpapi.Error {
			if errors.Is(err, errSentinel) {
				return &httpapi.Error{Status: http.StatusGone, Slug: "gone", Title: "Gone", Detail: "the thing is gone"}
			}
			return nil
		}}, BodyLimit: 256})
	return ed, &logs, reg
}

type problemBody struct {
	Type, Title, Detail string
	Status              int
}

func do(t *testing.T, h http.Handler, method, path, ctype, body string) (*httptest.ResponseRecorder, problemBody) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var p problemBody
	json.Unmarshal(rec.Body.Bytes(), &p)
	return rec, p
}

// TestErrorHandler: each kind of error becomes its status and problem
// type with its public message; a private cause reaches the log, never
// the body.
func TestErrorHandler(t *testing.T) {
	ed, logs, _ := newEdge(t)
	e := ed.Echo()
	cause := errors.New(secret)
	e.GET("/typed", func(echo.Context) error { return httpapi.Conflict("already there").WithCause(cause) })
	e.GET("/sentinel", func(echo.Context) error { return errors.Join(errSentinel, cause) })
	e.GET("/unknown", func(echo.Context) error { return cause })
	e.GET("/panic", func(echo.Context) error { panic(secret) })
	e.GET("/challenge", func(echo.Context) error {
		return httpapi.Unauthorized("send a token", `Bearer realm="cedula"`)
	})
	e.POST("/oauth", func(echo.Context) error {
		return &httpapi.OAuthError{Status: 400, Code: "invalid_grant", Description: "the code is spent", Cause: cause}
	})
	for _, tc := range []struct {
		method, path string
		status       int
		typ, detail  string
	}{
		{"GET", "/typed", 409, "about:blank", "already there"},
		{"GET", "/sentinel", 410, "https://id.example.gob/problems/gone", "the thing is gone"},
		{"GET", "/unknown", 500, "https://id.example.gob/problems/server-error", "Something went wrong on our side. Quote request ID "},
		{"GET", "/panic", 500, "https://id.example.gob/problems/server-error", "Something went wrong on our side."},
		{"GET", "/challenge", 401, "about:blank", "send a token"},
		{"GET", "/nowhere", 404, "https://id.example.gob/problems/not-found", "there is nothing at this address"},
		{"DELETE", "/typed", 405, "https://id.example.gob/problems/method-not-allowed", "this address does not take that method"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec, p := do(t, ed, tc.method, tc.path, "", "")
			if rec.Code != tc.status || p.Status != tc.status || p.Type != tc.typ || !strings.HasPrefix(p.Detail, tc.detail) {
				t.Errorf("got %d %+v, want %d type %s detail %q…", rec.Code, p, tc.status, tc.typ, tc.detail)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type: got %q, want application/problem+json", ct)
			}
			if strings.Contains(rec.Body.String(), secret) {
				t.Errorf("the private cause reached the body: %s", rec.Body)
			}
			if rec.Header().Get("X-Request-ID") == "" {
				t.Error("no X-Request-ID")
			}
		})
	}
	if rec, _ := do(t, ed, "GET", "/challenge", "", ""); rec.Header().Get("WWW-Authenticate") != `Bearer realm="cedula"` {
		t.Errorf("challenge: got %q", rec.Header().Get("WWW-Authenticate"))
	}
	rec, _ := do(t, ed, "POST", "/oauth", "", "")
	var oe map[string]string
	json.Unmarshal(rec.Body.Bytes(), &oe)
	if rec.Code != 400 || oe["error"] != "invalid_grant" || oe["error_description"] != "the code is spent" || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("OAuth error: got %d %v %q, want 400 invalid_grant in RFC 6749 JSON", rec.Code, oe, rec.Header().Get("Content-Type"))
	}
	if !strings.Contains(logs.String(), secret) {
		t.Error("the private cause did not reach the log")
	}
}

type widget struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// TestBind: strict JSON binding — 415 without application/json, 413 over
// the limit, 400 for invalid UTF-8, duplicate keys, unknown fields, wrong
// types, trailing data; nothing decoded when refused.
func TestBind(t *testing.T) {
	ed, _, _ := newEdge(t)
	var stored []widget
	ed.Echo().POST("/widgets", func(c echo.Context) error {
		var w widget
		if err := httpapi.Bind(c, &w); err != nil {
			return err
		}
		stored = append(stored, w)
		return c.NoContent(http.StatusCreated)
	})
	for _, tc := range []struct {
		name, ctype, body string
		status            int
	}{
		{"good", "application/json", `{"name":"a","count":1}`, 201},
		{"good with charset", "application/json; charset=utf-8", `{"name":"b"}`, 201},
		{"no content type", "", `{"name":"a"}`, 415},
		{"form", "application/x-www-form-urlencoded", `name=a`, 415},
		{"text", "text/plain", `{"name":"a"}`, 415},
		{"too large", "application/json", `{"name":"` + strings.Repeat("x", 300) + `"}`, 413},
		{"invalid UTF-8", "application/json", "{\"name\":\"\xff\"}", 400},
		{"duplicate key", "application/json", `{"name":"a","name":"b"}`, 400},
		{"nested duplicate key", "application/json", `{"name":"a","x":[{"k":1,"k":2}]}`, 400},
		{"unknown field", "application/json", `{"name":"a","admin":true}`, 400},
		{"wrong type", "application/json", `{"count":"many"}`, 400},
		{"trailing data", "application/json", `{"name":"a"} {"name":"b"}`, 400},
		{"empty", "application/json", ``, 400},
		{"not JSON", "application/json", `name: a`, 400},
		{"too deep", "application/json", strings.Repeat("[", 100) + strings.Repeat("]", 100), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(stored)
			rec, p := do(t, ed, "POST", "/widgets", tc.ctype, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tc.status)
			}
			if tc.status != 201 && (len(stored) != before || p.Status != tc.status || p.Detail == "") {
				t.Errorf("refused body: stored %d→%d, problem %+v; want nothing stored and a problem", before, len(stored), p)
			}
		})
	}
}

// TestMetricsByRouteTemplate: every request is counted under the route
// template it matched, and unmatched ones under "unmatched".
func TestMetricsByRouteTemplate(t *testing.T) {
	ed, _, reg := newEdge(t)
	ed.Echo().GET("/citizens/:id", func(c echo.Context) error { return c.NoContent(204) })
	for _, p := range []string{"/citizens/a", "/citizens/b", "/nope"} {
		do(t, ed, "GET", p, "", "")
	}
	mf, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range mf {
		if f.GetName() != "cedula_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["route"]+" "+labels["code"]] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"/citizens/:id 2xx": 2, "unmatched 4xx": 1}
	if len(got) != len(want) || got["/citizens/:id 2xx"] != 2 || got["unmatched 4xx"] != 1 {
		t.Errorf("request counters: got %v, want %v", got, want)
	}
}
