package app_test

import (
	"strings"
	"testing"

	"github.com/cedula/cedula/openapi/openapitest"
)

// isAPI says which routes are JSON APIs that a document must describe:
// the admin, DPO, consent, issuance, verification, mobile and account JSON routes; not the pages, the
// OpenID provider's standard endpoints, the probes or the docs.
func isAPI(method, path string) bool {
	switch {
	case strings.HasPrefix(path, "/mobile/v1/openapi.") || path == "/mobile/v1/docs":
		return false // the mobile API's contract, served beside it
	case strings.HasPrefix(path, "/admin/"), strings.HasPrefix(path, "/dpo/"), strings.HasPrefix(path, "/consent/"), strings.HasPrefix(path, "/issuance/"), strings.HasPrefix(path, "/verification/"), strings.HasPrefix(path, "/messages/"), strings.HasPrefix(path, "/journeys"), strings.HasPrefix(path, "/alerts"),
		strings.HasPrefix(path, "/mobile/"):
		return true
	case strings.HasPrefix(path, "/account/") && path != "/account/*":
		return true
	}
	return false
}

// TestRoutesAndDocumentsAgree: every operation a document describes is a
// route of the server, and every API route is described.
func TestRoutesAndDocumentsAgree(t *testing.T) {
	s, _ := startServer(t, nil)
	var routes []openapitest.Route
	for _, r := range s.Routes() {
		routes = append(routes, openapitest.Route{Method: r[0], Path: r[1]})
	}
	openapitest.CheckRoutes(t, routes, func(r openapitest.Route) bool {
		return isAPI(r.Method, r.Path)
	})
}
