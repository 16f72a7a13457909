// Package sqlstore stores the audit log in SQLite or PostgreSQL through
// database/sql: entries, the Merkle tree hashes stored per leaf
// (tlog.StoredHashes), the outbox of entries written with AppendTx, and
// every signed checkpoint. It implements audit.Log and audit.Checkpoints;
// audit/audittest holds the contract it is tested against.
//
// Tables (Migrations, room "audit"):
//
//	audit_head         the log's size: on PostgreSQL one row, the lock every index
//	                   assignment takes; on SQLite a view, one past the last entry
//	audit_entries      idx → leaf hash, canonical entry (the Merkle leaf), and the
//	                   tlog stored hashes written with leaf idx, concatenated
//	audit_pending      the outbox: canonical entries committed by AppendTx, not yet numbered
//	audit_checkpoints  size → origin, root hash, signed note, time stored
//	audit_subject_keys subject pseudonym → wrapped data key, or NULL once erased (SubjectKeys)
//	audit_subjects     (subject pseudonym, idx): the entries about each subject (EntriesAbout)
//	audit_index        idx → time, actor, action, purpose, outcome: what a DPO searches by (Search)
//	audit_leaf_runs    (run, first 8 bytes of a leaf hash, idx): the entries by leaf hash
//	                   (LeafIndex), in sorted runs merged level by level (leaves.go)
//	audit_leaf_levels  run → level, and the run it is being merged into
//	audit_indexed      one row: every entry below this size is in the three indexes above
//	audit_append       SQLite only: a view whose trigger appends one entry at the head (below)
//
// The three indexes are derived data, kept out of the sequencing
// transaction: an indexer (every tenth outbox poll, in batches of up to
// 4096 entries, one replica at a time behind the watermark's lock) adds
// what was sequenced since, and EntriesAbout and Search first bring it up
// to the log's size, so they see every entry appended before them.
//
// One goroutine per Store sequences entries (see the audit package
// documentation for why indices stay gap-free across replicas): Append
// requests and outbox drains go through a db.Group, so concurrent appends
// share one transaction and one fsync. Each sequencing transaction locks the
// head row, numbers the outbox rows it takes and then the appended entries,
// computes their stored hashes from the frontier of the tree (kept in
// memory between transactions and read again when another replica moved the
// head), inserts them with multi-row statements, deletes the outbox rows it
// numbered and writes the new size (on SQLite, checks it).
//
// Every sequencing transaction numbers the outbox rows committed before it
// first, so the log's order follows the order of commits whichever way an
// entry came in. On PostgreSQL, a group first tries one statement in
// autocommit (one round trip, one commit): an UPDATE of the head guarded by
// "size = the size this store last wrote, and the outbox empty", and
// INSERTs conditional on that UPDATE having matched. The UPDATE takes the same row lock as the locked
// path; when another replica moved the head it matches nothing, nothing is
// inserted, and the store falls back to the locked transaction. This cut
// the latency of a lone append from six round trips to one (see the
// benchmarks in bench_test.go). On SQLite the same group is one INSERT
// into the view audit_append in autocommit: its trigger writes each row's
// entry, hashes and head, and aborts the whole statement unless the head is
// at that row's index and the outbox is empty; then the store takes the
// locked path. A lone appender runs its group on its own goroutine
// (db.Group), so an append at concurrency 1 is one call into the database
// and one commit.
//
// Do not call Append inside a write transaction of your own on SQLite:
// SQLite has one writer, and Append would wait for the lock your
// transaction holds. Use AppendTx there, or SequenceTx (audit.TxSequencer)
// as the last statement of a short transaction on a hot path: it numbers
// the entries inside the caller's transaction, sparing the outbox's second
// transaction, at the price of holding the head lock until that commit.
package sqlstore
