package auditapi_test

import (
	"net/http"
	"testing"

	"github.com/cedula/cedula/audit/auditapi/auditapitest"
)

// TestHostilePaths: no path below the prefix is answered with a redirect,
// and each is a 400 or 404 problem.
func TestHostilePaths(t *testing.T) {
	l := auditapitest.Start(t)
	l.Append(t, 0, 300)
	auditapitest.CheckHostilePaths(t, l.Server.URL, http.DefaultTransport)
}
