package sqlstore

import (
	"strings"

	"github.com/cedula/cedula/internal/db"
)

// schemaV1 is written once with type placeholders: {BLOB} is BLOB on
// SQLite and BYTEA on PostgreSQL; {SERIAL} an auto-numbered key.
const schemaV1 = `
CREATE TABLE audit_head (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	size BIGINT NOT NULL CHECK (size >= 0)
);
INSERT INTO audit_head (id, size) VALUES (1, 0);
CREATE TABLE audit_entries (
	idx {INDEX} PRIMARY KEY,
	leaf_hash {BLOB} NOT NULL,
	data {BLOB} NOT NULL
);
CREATE INDEX audit_entries_leaf_hash ON audit_entries (leaf_hash);
CREATE TABLE audit_hashes (
	idx {INDEX} PRIMARY KEY,
	hashes {BLOB} NOT NULL
);
CREATE TABLE audit_pending (
	id {SERIAL},
	data {BLOB} NOT NULL
);
CREATE TABLE audit_checkpoints (
	size BIGINT PRIMARY KEY,
	origin TEXT NOT NULL,
	root {BLOB} NOT NULL,
	note {BLOB} NOT NULL,
	created BIGINT NOT NULL
);
`

func dialect(schema string, d db.Dialect) string {
	r := strings.NewReplacer(
		"{BLOB}", map[db.Dialect]string{db.SQLite: "BLOB", db.Postgres: "BYTEA"}[d],
		// On SQLite an INTEGER PRIMARY KEY is the rowid: no second index.
		"{INDEX}", map[db.Dialect]string{db.SQLite: "INTEGER", db.Postgres: "BIGINT"}[d],
		"{SERIAL}", map[db.Dialect]string{db.SQLite: "INTEGER PRIMARY KEY", db.Postgres: "BIGSERIAL PRIMARY KEY"}[d],
	)
	return r.Replace(schema)
}

// Migrations creates the audit log's tables, room "audit": version 1 the
// log (schemaV1), version 2 the subjects' data keys (schemaV2, subjectkeys.go).
var Migrations = []db.Migration{{
	Room:     "audit",
	Version:  1,
	SQLite:   dialect(schemaV1, db.SQLite),
	Postgres: dialect(schemaV1, db.Postgres),
}, {
	Room:     "audit",
	Version:  2,
	SQLite:   dialect(schemaV2, db.SQLite),
	Postgres: dialect(schemaV2, db.Postgres),
}}
