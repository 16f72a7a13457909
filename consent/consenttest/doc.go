// Package consenttest is the conformance suite of consent.Store and of the
// consent.Service built on it. Every store's tests call RunStoreTests and
// RunServiceTests, so that SQLite, PostgreSQL and any later store are held
// to the contracts written on the interfaces in consent/store.go and to the
// rules of the Service.
//
// RunStoreTests checks the registry's versions, appends and their
// optimistic concurrency (racing writers: exactly one wins), the
// all-or-nothing transaction with the caller's function, the gap-free
// ledger positions and change feed, the scan in key order, the scheduler's
// lookups, the counts and
// the replica rows with their fencing. It may share one database across
// subtests: everything it writes carries a random tag.
//
// RunServiceTests runs against real databases only, with a real audit log
// in the same database: the rules of each change and of Decide as tables,
// expiry and notice changes, the audit entry of every change and decision
// (exactly one per event, none for a change that failed — including one
// whose entry the log refused inside the transaction), the effects hook,
// and two replicas on one database — a change on one is seen by the other
// as soon as it returns, under concurrent gives and withdrawals on both,
// with a dead replica fenced, a replica cut off from the database no longer
// trusting its cache once its lease runs out, and a fenced replica starting
// afresh; and a replica with a complete cache (Config.Preload) answering
// for citizens without a record from memory, yet never taking a record
// created elsewhere after its preload for absent. Env.Preload runs the
// whole suite with complete caches.
package consenttest
