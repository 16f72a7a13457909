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
// log (schemaV1), version 2 the subjects' data keys (schemaV2, subjectkeys.go),
// version 3 the index of entries by subject (schemaV3), version 4 the
// search index (schemaV4, search.go).
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
}, {
	Room:     "audit",
	Version:  3,
	SQLite:   schemaV3For(db.SQLite),
	Postgres: schemaV3For(db.Postgres),
}, {
	Room:     "audit",
	Version:  4,
	SQLite:   schemaV4For(db.SQLite),
	Postgres: schemaV4For(db.Postgres),
}, {
	Room:     "audit",
	Version:  5,
	SQLite:   schemaV5,
	Postgres: schemaV5,
}}

// schemaV3 indexes the entries by subject (audit.SubjectIndex): a row per
// entry with a non-empty subject (its UTF-8 bytes: a subject may hold NUL,
// which PostgreSQL TEXT cannot), written in the transaction that sequences
// the entry. {BACKFILL} indexes the entries already in the log, except
// those whose encoding holds the escape \u0000, which neither database's
// JSON functions decode faithfully.
const schemaV3 = `
CREATE TABLE audit_subjects (
	subject {BLOB} NOT NULL,
	idx BIGINT NOT NULL,
	PRIMARY KEY (subject, idx)
);
{BACKFILL}
`

func schemaV3For(d db.Dialect) string {
	backfill := map[db.Dialect]string{
		db.SQLite: `INSERT INTO audit_subjects (subject, idx)
	SELECT CAST(json_extract(CAST(data AS TEXT), '$.subject') AS BLOB), idx FROM audit_entries
	WHERE instr(data, CAST('\u0000' AS BLOB)) = 0 AND json_extract(CAST(data AS TEXT), '$.subject') <> '';`,
		db.Postgres: `INSERT INTO audit_subjects (subject, idx)
	SELECT convert_to(convert_from(data, 'UTF8')::json->>'subject', 'UTF8'), idx FROM audit_entries
	WHERE CASE WHEN position(convert_to('\u0000', 'UTF8') in data) = 0
		THEN convert_from(data, 'UTF8')::json->>'subject' <> '' ELSE false END;`,
	}[d]
	return strings.Replace(dialect(schemaV3, d), "{BACKFILL}", backfill, 1)
}
