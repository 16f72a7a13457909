package app

import (
	"net/http"
	"strings"

	"github.com/cedula/cedula/internal/httpapi"
)

// router registers the handlers written for net/http on the echo edge
// under ServeMux-style patterns ("GET /admin/citizens/{id}/sessions"), so
// that every route is counted and logged by its template. Handlers still
// written this way move into their rooms' APIs as echo handlers.
type router struct{ e *httpapi.Echo }

// Handle registers h for pattern: "[METHOD ]/path", where {name} is a path
// parameter (readable with r.PathValue), {$} ends an exact path, and a
// trailing slash takes the whole subtree.
func (rt router) Handle(pattern string, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	var names []string
	var b strings.Builder
	for _, seg := range strings.Split(path, "/")[1:] {
		b.WriteByte('/')
		switch {
		case seg == "{$}":
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			name := strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}")
			names = append(names, name)
			b.WriteString(":" + name)
		default:
			b.WriteString(seg)
		}
	}
	route := b.String()
	subtree := strings.HasSuffix(path, "/") && !strings.HasSuffix(path, "{$}")
	if subtree {
		route += "*"
	}
	handler := func(c httpapi.Context) error {
		r := c.Request()
		for _, n := range names {
			r.SetPathValue(n, c.Param(n))
		}
		h.ServeHTTP(c.Response(), r)
		return nil
	}
	if method == "" {
		rt.e.Any(route, handler)
	} else {
		rt.e.Add(method, route, handler)
	}
}

// HandleFunc registers f for pattern.
func (rt router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	rt.Handle(pattern, http.HandlerFunc(f))
}

// providerPaths are the OpenID provider's endpoints (zitadel's defaults
// and PAR), each its own route.
var providerPaths = []string{"/.well-known/openid-configuration", "/authorize", "/authorize/callback", "/oauth/token",
	"/oauth/introspect", "/userinfo", "/revoke", "/end_session", "/keys", "/oauth/par"}
