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

// Migrations creates the audit log's tables, room "audit": version 1 the
// log (schemaV1), version 2 the subjects' data keys (schemaV2, subjectkeys.go),
// version 3 the index of entries by subject (schemaV3), version 4 the
// search index (schemaV4, search.go), version 5 the indexer's watermark
// (schemaV5, indexer.go), version 6 the leaf-hash index moved to the
// indexer and SQLite's one-statement append (schemaV6SQLite), version 7
// one row per entry (schemaV7SQLite), version 8 the subject index
// without a rowid on SQLite (schemaV8SQLite), version 9 the leaf-hash
// index as sorted runs (schemaV9, leaves.go), version 10 the frontier in
// PostgreSQL's head row (schemaV10Postgres, headfrontier.go).
var Migrations = []db.Migration{{
	Room:     "audit",
	Version:  1,
	SQLite:   db.Schema(schemaV1, db.SQLite),
	Postgres: db.Schema(schemaV1, db.Postgres),
}, {
	Room:     "audit",
	Version:  2,
	SQLite:   db.Schema(schemaV2, db.SQLite),
	Postgres: db.Schema(schemaV2, db.Postgres),
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
}, {
	Room:     "audit",
	Version:  6,
	SQLite:   schemaV6SQLite,
	Postgres: schemaV6Postgres,
}, {
	Room:     "audit",
	Version:  7,
	SQLite:   schemaV7SQLite,
	Postgres: schemaV7Postgres,
}, {
	Room:     "audit",
	Version:  8,
	SQLite:   schemaV8SQLite,
	Postgres: `SELECT 1;`, // nothing: a PostgreSQL table is a heap and its key one index anyway
}, {
	Room:     "audit",
	Version:  9,
	SQLite:   schemaV9(db.SQLite),
	Postgres: schemaV9(db.Postgres),
}, {
	Room:     "audit",
	Version:  10,
	SQLite:   `SELECT 1;`, // nothing: SQLite's head is a view, and SQLite has no round trips to save
	Postgres: schemaV10Postgres,
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
	return strings.Replace(db.Schema(schemaV3, d), "{BACKFILL}", backfill, 1)
}

// Version 6 takes the last random-key index out of the sequencing
// transaction. An index on the 32-byte leaf hash dirtied one page per
// entry in a random place of its B-tree, and SQLite writes every dirty page
// whole to its WAL at each commit: with it, a group of 64 appends wrote
// about 64 pages. The leaf hashes are now indexed by the indexer, behind
// the same watermark as the subject and search indexes, in audit_leaves:
// the first 8 bytes of the leaf hash (k) and the entry's index, sorted in
// each batch; LeafIndex catches the indexer up first, then confirms the
// whole hash against audit_entries.leaf_hash.
//
// On SQLite it also adds audit_append, a view whose INSTEAD OF trigger
// appends one entry — entry row, stored hashes, new head — from one row
// inserted into it, refusing (RAISE ABORT, which undoes the whole
// statement) unless the head is at that entry's index and the outbox is
// empty. A group whose frontier the store holds is then one statement in
// autocommit: one call into the database instead of six, under the same
// rules as the locked path.
const schemaV6SQLite = `
CREATE TABLE audit_leaves (
	k BLOB NOT NULL,
	idx INTEGER NOT NULL,
	PRIMARY KEY (k, idx)
) WITHOUT ROWID;
INSERT INTO audit_leaves (k, idx)
	SELECT substr(leaf_hash, 1, 8), idx FROM audit_entries WHERE idx < (SELECT size FROM audit_indexed WHERE id = 1);
DROP INDEX audit_entries_leaf_hash;
CREATE VIEW audit_append (idx, leaf_hash, data, hashes) AS
	SELECT idx, leaf_hash, data, NULL FROM audit_entries WHERE 0;
CREATE TRIGGER audit_append_row INSTEAD OF INSERT ON audit_append
BEGIN
	SELECT RAISE(ABORT, '` + headMoved + `')
		WHERE (SELECT size FROM audit_head WHERE id = 1) <> NEW.idx OR EXISTS (SELECT 1 FROM audit_pending);
	INSERT INTO audit_entries (idx, leaf_hash, data) VALUES (NEW.idx, NEW.leaf_hash, NEW.data);
	INSERT INTO audit_hashes (idx, hashes) VALUES (NEW.idx, NEW.hashes);
	UPDATE audit_head SET size = NEW.idx + 1 WHERE id = 1;
END;
`

const schemaV6Postgres = `
CREATE TABLE audit_leaves (
	k BYTEA NOT NULL,
	idx BIGINT NOT NULL,
	PRIMARY KEY (k, idx)
);
INSERT INTO audit_leaves (k, idx)
	SELECT substring(leaf_hash from 1 for 8), idx FROM audit_entries WHERE idx < (SELECT size FROM audit_indexed WHERE id = 1);
DROP INDEX audit_entries_leaf_hash;
`

// Version 7 makes an entry one row: its stored hashes move into
// audit_entries.hashes (audit_hashes is dropped), so that an append writes
// one row — on SQLite, one page of the WAL per commit at concurrency 1,
// where there were three. On SQLite the head is no longer a row either:
// audit_head becomes a view, the size being one past the last entry's
// index (entries are gap-free), and its INSTEAD OF UPDATE trigger only
// checks that a sequencing transaction's new size is the one its entries
// make. (SQLite has one writer at a time, so the head needs no row to
// lock; PostgreSQL keeps the row, whose lock orders the replicas.)
const schemaV7SQLite = `
ALTER TABLE audit_entries ADD COLUMN hashes BLOB;
UPDATE audit_entries SET hashes = (SELECT h.hashes FROM audit_hashes AS h WHERE h.idx = audit_entries.idx);
DROP TABLE audit_hashes;
DROP TRIGGER audit_append_row;
DROP TABLE audit_head;
CREATE VIEW audit_head (id, size) AS
	SELECT 1, coalesce((SELECT max(idx) FROM audit_entries) + 1, 0);
CREATE TRIGGER audit_head_update INSTEAD OF UPDATE ON audit_head
BEGIN
	SELECT RAISE(ABORT, 'cedula audit: the new size is not the one the entries make')
		WHERE NEW.size <> (SELECT size FROM audit_head);
END;
CREATE TRIGGER audit_append_row INSTEAD OF INSERT ON audit_append
BEGIN
	SELECT RAISE(ABORT, '` + headMoved + `')
		WHERE (SELECT size FROM audit_head) <> NEW.idx OR EXISTS (SELECT 1 FROM audit_pending);
	INSERT INTO audit_entries (idx, leaf_hash, data, hashes) VALUES (NEW.idx, NEW.leaf_hash, NEW.data, NEW.hashes);
END;
`

const schemaV7Postgres = `
ALTER TABLE audit_entries ADD COLUMN hashes BYTEA;
UPDATE audit_entries AS e SET hashes = h.hashes FROM audit_hashes AS h WHERE h.idx = e.idx;
DROP TABLE audit_hashes;
`

// Version 8 rebuilds audit_subjects on SQLite WITHOUT ROWID: with a rowid,
// every row was two B-trees (the table and its primary key) for one
// lookup key; audit_leaves was made that way from the start.
const schemaV8SQLite = `
CREATE TABLE audit_subjects_v8 (
	subject BLOB NOT NULL,
	idx BIGINT NOT NULL,
	PRIMARY KEY (subject, idx)
) WITHOUT ROWID;
INSERT INTO audit_subjects_v8 (subject, idx) SELECT subject, idx FROM audit_subjects;
DROP TABLE audit_subjects;
ALTER TABLE audit_subjects_v8 RENAME TO audit_subjects;
`

// headMoved is the message of the audit_append trigger's refusal.
const headMoved = "cedula audit: head moved or outbox not empty"

// leafKeySize is how many leading bytes of a leaf hash audit_leaves keys.
const leafKeySize = 8
