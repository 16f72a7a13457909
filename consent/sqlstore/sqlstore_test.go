package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cedula/cedula/audit"
	auditsql "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/consent/consenttest"
	"github.com/cedula/cedula/consent/sqlstore"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
)

// migrations are the consent ledger's and the audit log's: the Service
// writes audit entries in the ledger's transactions.
var migrations = [][]db.Migration{sqlstore.Migrations, auditsql.Migrations}

func newStore(t *testing.T, d *db.DB) *sqlstore.Store {
	s := sqlstore.New(d)
	t.Cleanup(s.Close)
	return s
}

// TestStore runs the storage suite on one fresh database per dialect,
// shared by its subtests.
func TestStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		consenttest.RunStoreTests(t, func(t *testing.T) consent.Store { return newStore(t, d) })
	}, migrations...)
}

// TestService runs the Service suite on a fresh database per subtest, in
// each dialect, with a second replica opened on the same database through
// its own handle; then again with every Service's cache complete
// (Config.Preload).
func TestService(t *testing.T) {
	for _, preload := range []bool{false, true} {
		suffix := ""
		if preload {
			suffix = "/preload"
		}
		t.Run("sqlite"+suffix, func(t *testing.T) {
			consenttest.RunServiceTests(t, func(t *testing.T) consenttest.Env {
				path := filepath.Join(t.TempDir(), "cedula.db")
				return env(t, preload, func(t *testing.T) *db.DB { return open(t, path) })
			})
		})
		t.Run("postgres"+suffix, func(t *testing.T) {
			dbtest.PostgresURL(t) // skips (or fails in CI) when there is no server
			consenttest.RunServiceTests(t, func(t *testing.T) consenttest.Env {
				url := dbtest.PostgresURL(t)
				return env(t, preload, func(t *testing.T) *db.DB { return open(t, url) })
			})
		})
	}
}

func open(t *testing.T, url string) *db.DB {
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// env migrates a database opened by openDB and returns a store and an
// audit log over it, and a way to open another pair as a second replica;
// preload sets Env.Preload.
func env(t *testing.T, preload bool, openDB func(t *testing.T) *db.DB) consenttest.Env {
	d := openDB(t)
	if _, err := d.Migrate(context.Background(), migrations...); err != nil {
		t.Fatal(err)
	}
	pair := func(t *testing.T, d *db.DB) (consent.Store, audit.Log) {
		log := auditsql.New(d)
		t.Cleanup(log.Close)
		return newStore(t, d), log
	}
	store, log := pair(t, d)
	return consenttest.Env{
		Store: store, Log: log,
		Replica: func(t *testing.T) (consent.Store, audit.Log) { return pair(t, openDB(t)) },
		Preload: preload,
	}
}
