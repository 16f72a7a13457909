// Package dbtest gives tests fresh, migrated databases of both dialects:
// SQLite in a temporary folder and, when CEDULA_TEST_POSTGRES is set (always
// in CI), a new PostgreSQL database per call.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/testenv"
)

// Each runs fn as a subtest once per dialect, each with a fresh database
// migrated with ms.
func Each(t *testing.T, fn func(t *testing.T, d *db.DB), ms ...[]db.Migration) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t, ms...)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t, ms...)) })
}

// SQLite returns a migrated SQLite database in a temporary folder removed
// when the test ends.
func SQLite(t testing.TB, ms ...[]db.Migration) *db.DB {
	t.Helper()
	dir, err := os.MkdirTemp("", "cedula-dbtest-")
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(context.Background(), filepath.Join(dir, "cedula.db"))
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	// Close, then remove the folder. SQLite may still be deleting its -wal
	// and -shm files as the last connection goes (a connection a store's
	// background goroutine held when Close ran is closed when released), so
	// the removal is retried for a moment instead of failing the test as
	// t.TempDir's cleanup does.
	t.Cleanup(func() {
		d.Close()
		for i := 0; ; i++ {
			err := os.RemoveAll(dir)
			if err == nil {
				return
			}
			if i == 20 {
				t.Errorf("dbtest: remove %s: %v", dir, err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	if _, err := d.Migrate(context.Background(), ms...); err != nil {
		t.Fatal(err)
	}
	return d
}

// PostgresURL creates an empty database on the test server and returns its
// URL; the database is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := testenv.Require(t, testenv.Postgres, "PostgreSQL")
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "cedula_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Postgres returns a migrated, fresh PostgreSQL database.
func Postgres(t testing.TB, ms ...[]db.Migration) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(context.Background(), ms...); err != nil {
		t.Fatal(err)
	}
	return d
}
