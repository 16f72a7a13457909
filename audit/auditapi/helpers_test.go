package auditapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/cedula/cedula/audit"
)

func newLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// serve runs h on a GET of path in process.
func serve(h http.Handler, path string) response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return response{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// nilReader and nilCheckpoints satisfy the interfaces for New's checks.
type nilReader struct{ audit.Reader }
type nilCheckpoints struct{ audit.Checkpoints }
