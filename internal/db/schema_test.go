package db_test

import (
	"testing"

	"github.com/cedula/cedula/internal/db"
)

func TestSchema(t *testing.T) {
	in := "CREATE TABLE t (id {SERIAL}, k {INDEX}, b {BLOB}, s TEXT {C}){WITHOUT_ROWID};"
	for d, want := range map[db.Dialect]string{
		db.SQLite:   "CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, b BLOB, s TEXT ) WITHOUT ROWID;",
		db.Postgres: `CREATE TABLE t (id BIGSERIAL PRIMARY KEY, k BIGINT, b BYTEA, s TEXT COLLATE "C");`,
	} {
		if got := db.Schema(in, d); got != want {
			t.Errorf("%s: got %q, want %q", d, got, want)
		}
	}
}
