// Package audittest is the conformance suite of audit.Log and
// audit.Checkpoints. Every store's tests call RunLogTests, so that SQLite,
// PostgreSQL and any later store are held to the contracts written on the
// interfaces in audit/log.go: durable, gap-free appends under concurrency
// (and across two replicas of one database), AppendTx atomicity with a
// change of the test's own, reads and range errors, and proofs.
//
// Proofs are checked with an independent implementation: roots, inclusion
// and consistency proofs computed by the store through
// golang.org/x/mod/sumdb/tlog must verify with
// github.com/transparency-dev/merkle, whose compact ranges also recompute
// every root from the entries' bytes. A property test appends random
// sequences (1 to 2000 entries, seed logged, AUDITTEST_SEED replays one)
// and checks every root and a large sample of proofs that way.
//
// The checkpoint tests sign with a real local keystore (internal/keys) and
// run the audit.Checkpointer against the store.
package audittest
