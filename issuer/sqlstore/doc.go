// Package sqlstore implements issuer.Store on SQLite and PostgreSQL through
// database/sql. Queries are shared ($N placeholders work in both drivers);
// migrations carry one schema per dialect. Times are stored as Unix
// microseconds, lists as JSON arrays, secrets only as hashes.
//
// With WithAudit, every change appends its audit entry (the actions in
// package issuer) inside the change's own transaction, so that there is no
// change without its entry and no entry without its change: through the
// audit log's outbox (AppendTx), and for the token endpoint's group-
// committed access tokens numbered straight into the log in the group's
// transaction (audit.TxSequencer).
package sqlstore
