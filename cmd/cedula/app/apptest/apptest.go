// Package apptest runs a whole Cedula server inside a test.
package apptest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/openapi/openapitest"
)

// Start serves cfg's server over HTTP on a free loopback port until the
// test ends, and returns it with its public URL, http://localhost:PORT (a
// secure context and a valid passkey RP ID), which it sets as
// cfg.PublicURL. Every exchange an OpenAPI document describes is checked
// against it. cfg.DataDir must be a folder of the test's own
// (t.TempDir()), never the default ./data; the key-encryption key comes
// from CEDULA_KEK, which the caller sets (t.Setenv).
func Start(t *testing.T, cfg config.Config) (*app.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir == "" || cfg.DataDir == config.Default().DataDir {
		t.Fatalf("apptest: DataDir %q: give the server a folder of the test's own", cfg.DataDir)
	}
	cfg.PublicURL = fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	s, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	srv := httptest.NewUnstartedServer(openapitest.New(t).Wrap(s.Handler()))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	// Before the listener closes (which waits for every request): the
	// inbox streams a test left open end.
	t.Cleanup(s.EndStreams)
	return s, cfg.PublicURL
}
