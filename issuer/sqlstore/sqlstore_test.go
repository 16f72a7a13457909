package sqlstore_test

import (
	"testing"

	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/issuertest"
	"github.com/cedula/cedula/issuer/sqlstore"
)

func TestSQLite(t *testing.T) {
	issuertest.RunStoreTests(t, func(t *testing.T) issuer.Store {
		return sqlstore.New(dbtest.SQLite(t, sqlstore.Migrations))
	})
}

func TestPostgres(t *testing.T) {
	dbtest.PostgresURL(t) // skips (or fails in CI) before any subtest when there is no server
	issuertest.RunStoreTests(t, func(t *testing.T) issuer.Store {
		return sqlstore.New(dbtest.Postgres(t, sqlstore.Migrations))
	})
}
