// Package sqlstore stores the consent ledger in SQLite or PostgreSQL
// through internal/db: the purpose registry, the records' events, their
// current state, and the rows of the replicas sharing the database. It
// implements consent.Store; consent/consenttest holds the contract it is
// tested against.
//
// Tables (Migrations, room "consent"):
//
//	consent_head      one row: the latest ledger position; the lock every position assignment takes
//	consent_purposes  (id, version) → the purpose version, with its ledger position
//	consent_records   (subject, purpose, controller) → the record's current state; id unique
//	consent_events    ledger position → one event; (record_id, seq) unique; by (subject, pos)
//	consent_replicas  replica ID → position seen and heartbeat (database clock, Unix µs)
//
// Append writes, in one transaction: each record's new state (an INSERT
// for a new record, an UPDATE guarded by the sequence the writer read —
// the optimistic concurrency check), then advances consent_head by the
// number of events, inserts the events at the positions it got, and runs
// the caller's function (the audit outbox insert). The head's row lock is
// held to the commit, so positions are handed out in commit order across
// replicas, without gaps: a replica that reads the head and then the
// changes up to it misses nothing.
//
// Indexes serve the lookups: the primary key of consent_records serves
// Decide's point lookup (clustered on SQLite, WITHOUT ROWID); partial
// indexes over records in force serve DueToExpire (by expiry) and
// OnOldNotice (by purpose and notice version); (purpose, controller,
// state) serves Counts without reading the table; (subject, pos) the
// citizen's history.
//
// Times are Unix microseconds in BIGINT columns; lists of categories JSON
// arrays. Heartbeats and ages use the database clock: clock_timestamp()
// on PostgreSQL, unixepoch('subsec') (millisecond precision) on SQLite,
// whose replicas share one host and so one clock.
package sqlstore
