package sqlstore

import (
	"github.com/cedula/cedula/internal/db"
)

// schemaV1 is written once with placeholders: {INDEX} is a 64-bit key
// (INTEGER on SQLite, where an INTEGER PRIMARY KEY is the rowid and needs
// no second index); {C} makes text compare byte by byte (PostgreSQL's
// COLLATE "C"; SQLite's default); {WITHOUT_ROWID} clusters a table on its
// primary key on SQLite.
const schemaV1 = `
CREATE TABLE consent_head (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	pos BIGINT NOT NULL CHECK (pos >= 0)
);
INSERT INTO consent_head (id, pos) VALUES (1, 0);
CREATE TABLE consent_purposes (
	id TEXT {C} NOT NULL,
	version INTEGER NOT NULL CHECK (version >= 1),
	pos BIGINT NOT NULL UNIQUE,
	name_es TEXT NOT NULL,
	name_en TEXT NOT NULL,
	description_es TEXT NOT NULL,
	description_en TEXT NOT NULL,
	controller TEXT {C} NOT NULL,
	legal_basis TEXT NOT NULL,
	categories TEXT NOT NULL,
	retention BIGINT NOT NULL,
	dpv TEXT NOT NULL,
	notice_version TEXT NOT NULL,
	notice_url TEXT NOT NULL,
	profiling INTEGER NOT NULL,
	created BIGINT NOT NULL,
	PRIMARY KEY (id, version)
);
CREATE TABLE consent_records (
	subject TEXT {C} NOT NULL,
	purpose TEXT {C} NOT NULL,
	controller TEXT {C} NOT NULL,
	id TEXT {C} NOT NULL UNIQUE,
	seq BIGINT NOT NULL CHECK (seq >= 1),
	state TEXT {C} NOT NULL,
	purpose_version INTEGER NOT NULL,
	notice_version TEXT {C} NOT NULL,
	legal_basis TEXT NOT NULL,
	categories TEXT NOT NULL,
	method TEXT NOT NULL,
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL,
	given BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	PRIMARY KEY (subject, purpose, controller)
){WITHOUT_ROWID};
CREATE INDEX consent_records_expiry ON consent_records (expires)
	WHERE state IN ('given', 'renewed') AND expires > 0;
CREATE INDEX consent_records_notice ON consent_records (purpose, notice_version)
	WHERE state IN ('given', 'renewed');
CREATE INDEX consent_records_counts ON consent_records (purpose, controller, state);
CREATE TABLE consent_events (
	pos {INDEX} PRIMARY KEY,
	record_id TEXT {C} NOT NULL,
	seq BIGINT NOT NULL CHECK (seq >= 1),
	event_type TEXT NOT NULL,
	subject TEXT {C} NOT NULL,
	controller TEXT {C} NOT NULL,
	purpose TEXT {C} NOT NULL,
	purpose_version INTEGER NOT NULL,
	notice_version TEXT NOT NULL,
	legal_basis TEXT NOT NULL,
	categories TEXT NOT NULL,
	method TEXT NOT NULL,
	actor_kind TEXT NOT NULL,
	actor_id TEXT NOT NULL,
	at BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	UNIQUE (record_id, seq)
);
CREATE INDEX consent_events_subject ON consent_events (subject, pos);
CREATE TABLE consent_replicas (
	id TEXT {C} PRIMARY KEY,
	seen BIGINT NOT NULL,
	heartbeat BIGINT NOT NULL,
	registered BIGINT NOT NULL
);
`

// Migrations creates the consent ledger's tables, room "consent". The
// Service also writes audit entries in the ledger's transactions, so a
// database holding these needs audit/sqlstore.Migrations too.
var Migrations = []db.Migration{{
	Room:     "consent",
	Version:  1,
	SQLite:   db.Schema(schemaV1, db.SQLite),
	Postgres: db.Schema(schemaV1, db.Postgres),
}, {
	// The DPO's counts over time (EventCounts) read events by time.
	Room:     "consent",
	Version:  2,
	SQLite:   `CREATE INDEX consent_events_at ON consent_events (at);`,
	Postgres: `CREATE INDEX consent_events_at ON consent_events (at);`,
}}
