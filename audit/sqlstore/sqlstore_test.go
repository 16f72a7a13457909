package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/audittest"
	"github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
)

// open returns a store over d, closed when the test ends.
func open(t *testing.T, d *db.DB) *sqlstore.Store {
	s := sqlstore.New(d)
	t.Cleanup(s.Close)
	return s
}

func env(t *testing.T, d *db.DB, reopen func(t *testing.T) *db.DB) audittest.Env {
	s := open(t, d)
	return audittest.Env{
		Log: s, Checkpoints: s, DB: d.DB,
		Replica: func(t *testing.T) audit.Log { return open(t, reopen(t)) },
	}
}

func TestSQLite(t *testing.T) {
	audittest.RunLogTests(t, func(t *testing.T) audittest.Env {
		path := filepath.Join(t.TempDir(), "audit.db")
		openDB := func(t *testing.T) *db.DB {
			d, err := db.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		}
		d := openDB(t)
		if _, err := d.Migrate(context.Background(), sqlstore.Migrations); err != nil {
			t.Fatal(err)
		}
		return env(t, d, openDB)
	})
}

func TestPostgres(t *testing.T) {
	dbtest.PostgresURL(t) // skips (or fails in CI) before any subtest when there is no server
	audittest.RunLogTests(t, func(t *testing.T) audittest.Env {
		url := dbtest.PostgresURL(t)
		openDB := func(t *testing.T) *db.DB {
			d, err := db.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		}
		d := openDB(t)
		if _, err := d.Migrate(context.Background(), sqlstore.Migrations); err != nil {
			t.Fatal(err)
		}
		return env(t, d, openDB)
	})
}
