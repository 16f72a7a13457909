package sqlstore_test

import (
	"testing"

	"github.com/cedula/cedula/audit"
	auditstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/issuertest"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// audited returns the store as serve builds it: every change appends to
// the audit log in its own transaction.
func audited(t *testing.T, d *db.DB) issuertest.AuditEnv {
	log := auditstore.New(d)
	t.Cleanup(log.Close)
	ps := audit.NewPseudonyms([]byte("a test secret of at least thirty-two bytes"))
	s := sqlstore.New(d, sqlstore.WithAudit(log, ps))
	t.Cleanup(s.Close)
	return issuertest.AuditEnv{Store: s, Log: log, Pseudonyms: ps}
}

func TestSQLite(t *testing.T) {
	issuertest.RunStoreTests(t, func(t *testing.T) issuer.Store {
		return audited(t, dbtest.SQLite(t, sqlstore.Migrations, auditstore.Migrations)).Store
	})
}

func TestPostgres(t *testing.T) {
	dbtest.PostgresURL(t) // skips (or fails in CI) before any subtest when there is no server
	issuertest.RunStoreTests(t, func(t *testing.T) issuer.Store {
		return audited(t, dbtest.Postgres(t, sqlstore.Migrations, auditstore.Migrations)).Store
	})
}

// TestUnaudited runs the suite on a store without a log: the audit is an
// addition to each change, not a condition of it.
func TestUnaudited(t *testing.T) {
	issuertest.RunStoreTests(t, func(t *testing.T) issuer.Store {
		s := sqlstore.New(dbtest.SQLite(t, sqlstore.Migrations))
		t.Cleanup(s.Close)
		return s
	})
}

func TestAudit(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		issuertest.RunAuditTests(t, func(t *testing.T) issuertest.AuditEnv {
			return audited(t, dbtest.SQLite(t, sqlstore.Migrations, auditstore.Migrations))
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dbtest.PostgresURL(t)
		issuertest.RunAuditTests(t, func(t *testing.T) issuertest.AuditEnv {
			return audited(t, dbtest.Postgres(t, sqlstore.Migrations, auditstore.Migrations))
		})
	})
}
