// Package issuertest is the conformance suite of issuer.Store. Every
// backend's tests call RunStoreTests, so that SQLite, PostgreSQL and any
// later store are held to the same guarantees: the ones written on the
// interfaces in issuer/store.go, checked with real concurrency where a
// method promises "exactly once".
//
// The suite compares every field of every stored type, times at microsecond
// precision and in UTC, and treats a nil slice and an empty one as equal.
// It imports nothing but the issuer package and the standard library.
package issuertest
