// Package openapitest holds the documents in openapi to what the server
// does: Checker validates every request and response a test sends through
// it against the document that describes the route, and CheckRoutes fails
// a test when a route and the documents disagree.
package openapitest

import (
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/cedula/cedula/openapi"
)

type docRouter struct {
	name string
	doc  *openapi3.T
	r    routers.Router
}

// Checker validates traffic against the documents.
type Checker struct {
	t       testing.TB
	routers []docRouter
	mu      sync.Mutex
	seen    map[string]int // "doc METHOD /path" → responses validated
}

// New loads the documents (a test fails if one is invalid).
func New(t testing.TB) *Checker {
	t.Helper()
	ds, err := openapi.Docs()
	if err != nil {
		t.Fatal(err)
	}
	c := &Checker{t: t, seen: map[string]int{}}
	for _, d := range ds {
		r, err := legacy.NewRouter(d.T)
		if err != nil {
			t.Fatalf("openapi %s: %v", d.Name, err)
		}
		c.routers = append(c.routers, docRouter{name: d.Name, doc: d.T, r: r})
	}
	return c
}

// Wrap returns h with every exchange that a document describes validated:
// the request against its operation (parameters, body), the response's
// status against the declared ones and its JSON body against the schema.
// A mismatch fails the test.
func (c *Checker) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dr, route, params := c.find(r)
		if route == nil {
			h.ServeHTTP(w, r)
			return
		}
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		in := &openapi3filter.RequestValidationInput{Request: r.Clone(r.Context()), PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
		in.Request.Body = io.NopCloser(bytes.NewReader(body))
		reqErr := openapi3filter.ValidateRequest(context.Background(), in)
		if streams(route) {
			// A stream is passed through as it is written; its status and
			// headers are checked when it ends.
			sw := &streamWriter{ResponseWriter: w}
			h.ServeHTTP(sw, r)
			c.checkStream(dr, route, in, reqErr, r, sw)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		key := dr.name + " " + r.Method + " " + route.Path
		c.mu.Lock()
		c.seen[key]++
		c.mu.Unlock()
		// A request the document refuses must be refused by the server
		// too; one it admits is checked through its response.
		if reqErr != nil && rec.Code < 400 {
			c.t.Errorf("openapi %s: %s %s: the document refuses the request (%v) but the server answered %d", dr.name, r.Method, r.URL.Path, reqErr, rec.Code)
		}
		mt, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
			Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
		if strings.HasPrefix(mt, "text/csv") || mt == "application/jsonl" || strings.HasPrefix(mt, "image/") {
			out.Options.ExcludeResponseBody = true
		}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			c.t.Errorf("openapi %s: %s %s → %d: the response does not match the document: %v\nbody: %.300s", dr.name, r.Method, r.URL.Path, rec.Code, err, rec.Body.String())
		}
	})
}

// streams reports whether the route's success is a text/event-stream.
func streams(route *routers.Route) bool {
	for _, code := range []int{200} {
		if r := route.Operation.Responses.Status(code); r != nil && r.Value != nil && r.Value.Content.Get("text/event-stream") != nil {
			return true
		}
	}
	return false
}

// streamWriter passes a stream through and remembers its status.
type streamWriter struct {
	http.ResponseWriter
	code int
}

func (w *streamWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *streamWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *streamWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// checkStream validates a stream's status and headers (its body is the
// events, which the document describes as text).
func (c *Checker) checkStream(dr docRouter, route *routers.Route, in *openapi3filter.RequestValidationInput, reqErr error, r *http.Request, sw *streamWriter) {
	key := dr.name + " " + r.Method + " " + route.Path
	c.mu.Lock()
	c.seen[key]++
	c.mu.Unlock()
	if reqErr != nil && sw.code < 400 {
		c.t.Errorf("openapi %s: %s %s: the document refuses the request (%v) but the server answered %d", dr.name, r.Method, r.URL.Path, reqErr, sw.code)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: sw.code, Header: sw.Header(),
		Body: io.NopCloser(bytes.NewReader(nil)), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.t.Errorf("openapi %s: %s %s → %d: the response does not match the document: %v", dr.name, r.Method, r.URL.Path, sw.code, err)
	}
}

// find returns the document route r matches, if any. The router takes
// "/journeys/" for "/journeys"; the server does not (a trailing slash is
// another address, which no document describes).
func (c *Checker) find(r *http.Request) (docRouter, *routers.Route, map[string]string) {
	for _, dr := range c.routers {
		route, params, err := dr.r.FindRoute(r)
		if err == nil {
			if strings.HasSuffix(r.URL.Path, "/") && !strings.HasSuffix(route.Path, "/") && !strings.HasSuffix(route.Path, "}") {
				continue
			}
			return dr, route, params
		}
	}
	return docRouter{}, nil, nil
}

// Seen lists the operations the checker validated at least one response of.
func (c *Checker) Seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k := range c.seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Route is a registered route: method and template ("/admin/citizens/:id").
type Route struct{ Method, Path string }

// CheckRoutes fails t unless the documents and the registered routes
// agree: every operation a document describes is a route, and every route
// that api says belongs to an API is described by a document.
func CheckRoutes(t testing.TB, routes []Route, api func(Route) bool) {
	t.Helper()
	ds, err := openapi.Docs()
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, r := range routes {
		registered[r.Method+" "+echoPath(r.Path)] = true
	}
	documented := map[string]string{}
	for _, d := range ds {
		for p, item := range d.T.Paths.Map() {
			p := d.Base() + p
			for method := range item.Operations() {
				key := method + " " + p
				if prev, ok := documented[key]; ok {
					t.Errorf("%s is described by both %s and %s", key, prev, d.Name)
				}
				documented[key] = d.Name
				if !registered[key] && !registered["ANY "+p] && !underWildcard(routes, p) {
					t.Errorf("openapi %s describes %s, which is not a route", d.Name, key)
				}
			}
		}
	}
	for _, r := range routes {
		if !api(r) {
			continue
		}
		if _, ok := documented[r.Method+" "+echoPath(r.Path)]; !ok {
			t.Errorf("route %s %s is in no OpenAPI document", r.Method, r.Path)
		}
	}
}

// underWildcard reports whether a route "/prefix/*" takes path p (the log
// serves its data paths under one route).
func underWildcard(routes []Route, p string) bool {
	for _, r := range routes {
		if prefix, ok := strings.CutSuffix(r.Path, "*"); ok && strings.HasPrefix(p, prefix) && prefix != "/" {
			return true
		}
	}
	return false
}

// echoPath turns an echo template (":id") into an OpenAPI one ("{id}").
func echoPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

// XML bodies (CAP alerts) are checked as the strings the document says
// they are; the room checks their content.
func init() {
	text := func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	}
	for _, ct := range []string{"application/cap+xml", "application/xml"} {
		openapi3filter.RegisterBodyDecoder(ct, text)
	}
}
