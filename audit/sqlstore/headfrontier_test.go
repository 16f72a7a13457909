package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db/dbtest"
)

// TestSequenceTxGuessesTheHead (PostgreSQL): after a first SequenceTx
// reads the head, the next ones number their entries in one statement;
// whenever the guess is wrong — the last transaction rolled back, another
// store appended, a replica of an older version moved the size without
// the frontier — nothing is written by that statement and the locked path
// numbers the entries; every time, the tree is the one the entries make.
func TestSequenceTxGuessesTheHead(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Postgres(t, Migrations)
	s := New(d, WithPollInterval(time.Hour))
	t.Cleanup(s.Close)
	other := New(d, WithPollInterval(time.Hour))
	t.Cleanup(other.Close)
	var leaves []tlog.Hash
	n := 0
	entry := func() audit.Entry {
		n++
		return audit.Entry{Time: time.Date(2026, 5, 1, 0, 0, 0, n*1000, time.UTC), Actor: audit.Actor{Kind: audit.ActorClient, ID: "agency"},
			Action: "oidc.token", Outcome: audit.Allowed, RequestID: fmt.Sprint("r-", n)}
	}
	leaf := func(e audit.Entry) tlog.Hash {
		data, err := e.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		return tlog.RecordHash(data)
	}
	inTx := func(commit bool, es ...audit.Entry) int64 {
		t.Helper()
		tx, err := d.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		first, err := s.SequenceTx(ctx, tx, es...)
		if err != nil {
			t.Fatal(err)
		}
		if !commit {
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			return first
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			leaves = append(leaves, leaf(e))
		}
		return first
	}
	check := func(step string, wantFast uint64) {
		t.Helper()
		if got := s.txFast.Load(); got != wantFast {
			t.Errorf("%s: %d SequenceTx calls in one statement, want %d", step, got, wantFast)
		}
		size, err := s.Size(ctx)
		if err != nil || size != int64(len(leaves)) {
			t.Fatalf("%s: size %d (%v), want %d", step, size, err, len(leaves))
		}
		root, err := audit.TreeHash(ctx, s, size)
		if err != nil || root != rootOfLeaves(leaves) {
			t.Fatalf("%s: root %v (%v), want the root of the entries", step, root, err)
		}
		var blob []byte
		var blobSize sql.NullInt64
		if err := d.QueryRowContext(ctx, `SELECT frontier, frontier_size FROM audit_head`).Scan(&blob, &blobSize); err != nil {
			t.Fatal(err)
		}
		if front := headFrontier(size, blob, blobSize); front == nil {
			t.Errorf("%s: the head holds no frontier for size %d", step, size)
		}
	}
	inTx(true, entry(), entry())
	check("first: reads the head", 0)
	inTx(true, entry())
	check("second: guesses it", 1)
	inTx(false, entry(), entry(), entry()) // guessed, then rolled back
	check("rolled back", 2)
	if got := inTx(true, entry()); got != 3 {
		t.Errorf("after a roll-back: first index %d, want 3", got)
	}
	check("after a roll-back: the guess was wrong", 2)
	e := entry()
	if _, err := other.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	leaves = append(leaves, leaf(e))
	inTx(true, entry())
	check("after another store's append", 2)
	inTx(true, entry())
	check("and then", 3)
	// A roll-back, then another store's append of as many entries: the
	// head is at the size guessed, with another tree. (From an even size,
	// so that the next entry's stored hashes would take in the wrong
	// leaf.)
	if len(leaves)%2 == 1 {
		inTx(true, entry())
	}
	fast := s.txFast.Load()
	inTx(false, entry())
	e = entry()
	if _, err := other.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	leaves = append(leaves, leaf(e))
	inTx(true, entry())
	check("at the size guessed, another tree", fast+1)
	if _, err := d.ExecContext(ctx, `UPDATE audit_head SET frontier_size = NULL`); err != nil { // an older replica's write
		t.Fatal(err)
	}
	inTx(true, entry(), entry())
	check("after an older replica's write", fast+1)
	inTx(true, entry())
	check("and then", fast+2)
}

// rootOfLeaves is the RFC 6962 root of leaves, computed from scratch.
func rootOfLeaves(leaves []tlog.Hash) tlog.Hash {
	var hashes []tlog.Hash
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, x := range idx {
			out[j] = hashes[x]
		}
		return out, nil
	})
	for i, l := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), l, read)
		if err != nil {
			panic(err)
		}
		hashes = append(hashes, hs...)
	}
	root, err := tlog.TreeHash(int64(len(leaves)), read)
	if err != nil {
		panic(err)
	}
	return root
}
