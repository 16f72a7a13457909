// Package auditapitest serves a real audit log for tests: SQLite in
// t.TempDir(), audit/sqlstore, a local keystore and an audit.Checkpointer,
// behind an httptest server running auditapi.Handler. Tests of the API and
// of its clients (cedula audit verify and mirror) build their logs here.
package auditapitest

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	"github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
)

// Origin names the test logs.
const Origin = "audit.cedula.test/log"

// Log is a served log. Nothing signs checkpoints by itself: call
// Checkpoint.
type Log struct {
	DB           *db.DB
	Store        *sqlstore.Store
	Keys         keys.Manager
	Checkpointer *audit.Checkpointer
	Handler      *auditapi.Handler
	Server       *httptest.Server
	// URL is the log's prefix (C2SP tlog-tiles): Server.URL + "/audit".
	URL string
}

// Option configures Start.
type Option func(*options)

type options struct {
	keys   keys.Manager
	origin string
}

// WithKeys signs with km instead of a fresh keystore, so that two logs can
// share a key.
func WithKeys(km keys.Manager) Option { return func(o *options) { o.keys = km } }

// WithOrigin names the log origin instead of Origin.
func WithOrigin(origin string) Option { return func(o *options) { o.origin = origin } }

// NewKeys returns a fresh local keystore in t.TempDir().
func NewKeys(t testing.TB) keys.Manager {
	t.Helper()
	km, err := localkeys.Open(filepath.Join(t.TempDir(), "keystore.json"), localkeys.WithKEK(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return km
}

// Start returns an empty log, served until the test ends.
func Start(t testing.TB, opts ...Option) *Log {
	t.Helper()
	o := options{origin: Origin}
	for _, opt := range opts {
		opt(&o)
	}
	if o.keys == nil {
		o.keys = NewKeys(t)
	}
	d := dbtest.SQLite(t, sqlstore.Migrations)
	s := sqlstore.New(d)
	t.Cleanup(s.Close)
	cp, err := audit.NewCheckpointer(audit.CheckpointerConfig{Origin: o.origin, Log: s, Store: s, Keys: o.keys})
	if err != nil {
		t.Fatal(err)
	}
	h, err := auditapi.New(auditapi.Config{Log: s, Checkpoints: s, Keys: cp})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Edge(h, nil))
	t.Cleanup(srv.Close)
	return &Log{DB: d, Store: s, Keys: o.keys, Checkpointer: cp, Handler: h, Server: srv, URL: srv.URL + "/audit"}
}

// Entry returns the i-th test entry: the same for the same i on every run,
// different for different i.
func Entry(i int) audit.Entry {
	return audit.Entry{
		Time:    time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Actor:   audit.Actor{Kind: audit.ActorClient, ID: "agency-" + fmt.Sprint(i%7)},
		Action:  "consent.decide",
		Subject: fmt.Sprintf("psn-%03d", i%11), Purpose: "dpv:ServiceProvision", LegalBasis: "consent",
		Categories: []string{"identity"}, Outcome: audit.Allowed,
		RequestID: fmt.Sprint("req-", i),
	}
}

// Append appends Entry(i) for from ≤ i < to.
func (l *Log) Append(t testing.TB, from, to int) {
	t.Helper()
	for from < to {
		n := min(to-from, 500)
		es := make([]audit.Entry, n)
		for i := range es {
			es[i] = Entry(from + i)
		}
		if _, err := l.Store.Append(t.Context(), es...); err != nil {
			t.Fatal(err)
		}
		from += n
	}
}

// Checkpoint signs and stores a checkpoint of the whole log.
func (l *Log) Checkpoint(t testing.TB) audit.Checkpoint {
	t.Helper()
	c, err := l.Checkpointer.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// VerifierKey returns the verifier key of the log's active checkpoint key,
// creating it when the log has not signed yet.
func (l *Log) VerifierKey(t testing.TB) string {
	t.Helper()
	k, err := l.Keys.Active(t.Context(), audit.CheckpointRing, keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := audit.VerifierKey(l.Checkpointer.Origin(), k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

// Edge returns h mounted on an edge of its own, as Cedula serves it: the
// edge turns the handler's errors into problems. log receives the causes
// of server errors (and a line per request); nil discards.
func Edge(h *auditapi.Handler, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ed := httpapi.New(httpapi.Config{BaseURL: "http://cedula.test", Logger: log})
	h.Mount(ed.Echo())
	return ed
}
