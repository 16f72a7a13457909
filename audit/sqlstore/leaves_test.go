package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
)

// TestLeafRuns: the leaf-hash index as sorted runs (leaves.go). Indexing
// rounds add runs; merges, a few keys a transaction, fold every
// leafFanout runs of a level into one of the next; at every step — in the
// middle of a merge too — each entry's key is in exactly one run, LeafIndex
// finds every entry (the first of two equal ones), and the runs stay few.
func TestLeafRuns(t *testing.T) {
	defer func(c map[db.Dialect]int, f int) { leafMergeChunk, leafFanout = c, f }(leafMergeChunk, leafFanout)
	leafMergeChunk = map[db.Dialect]int{db.SQLite: 16, db.Postgres: 16}
	leafFanout = 8
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := New(d, WithPollInterval(time.Hour)) // the test drives the indexer
		t.Cleanup(s.Close)
		var leaves []audit.Hash
		appendRound := func(round, n int) {
			t.Helper()
			var es []audit.Entry
			for i := range n {
				e := audit.Entry{Time: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(len(leaves)+i) * time.Millisecond),
					Actor: audit.Actor{Kind: audit.ActorClient, ID: "agency"}, Action: "oidc.token", Outcome: audit.Allowed,
					RequestID: fmt.Sprint("r-", round, "-", i)}
				if i == 0 && round%5 == 4 {
					e = entryOfRound(round - 1) // an entry equal to an earlier one
				}
				data, err := e.Canonical()
				if err != nil {
					t.Fatal(err)
				}
				es = append(es, e)
				leaves = append(leaves, audit.LeafHash(data))
			}
			if _, err := s.Append(ctx, es...); err != nil {
				t.Fatal(err)
			}
			if _, err := s.indexOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		check := func(when string) {
			t.Helper()
			var keys, distinct, runs, maxLevel int
			if err := d.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT idx) FROM audit_leaf_runs`).Scan(&keys, &distinct); err != nil {
				t.Fatal(err)
			}
			if keys != len(leaves) || distinct != len(leaves) {
				t.Fatalf("%s: %d keys for %d distinct entries, want one for each of the %d entries", when, keys, distinct, len(leaves))
			}
			if err := d.QueryRowContext(ctx, `SELECT count(*), max(level) FROM audit_leaf_levels`).Scan(&runs, &maxLevel); err != nil {
				t.Fatal(err)
			}
			if limit := leafFanout*(maxLevel+1) + 1; runs > limit {
				t.Errorf("%s: %d runs up to level %d, want at most %d", when, runs, maxLevel, limit)
			}
			first := map[audit.Hash]int64{}
			for i, l := range leaves {
				if _, ok := first[l]; !ok {
					first[l] = int64(i)
				}
			}
			for i, l := range leaves {
				got, err := s.LeafIndex(ctx, l)
				if err != nil || got != first[l] {
					t.Fatalf("%s: LeafIndex(entry %d) = %d, %v; want %d", when, i, got, err, first[l])
				}
			}
		}
		for round := range 70 {
			appendRound(round, 3+round%7)
			if round%9 == 8 {
				// One step: a merge may be left half done.
				if _, err := s.mergeStep(ctx); err != nil {
					t.Fatal(err)
				}
				check(fmt.Sprintf("round %d, one merge step", round))
			} else if err := s.compactLeaves(ctx, 1<<20); err != nil {
				t.Fatal(err)
			}
		}
		check("after 70 rounds")
		var maxLevel int
		if err := d.QueryRowContext(ctx, `SELECT max(level) FROM audit_leaf_levels`).Scan(&maxLevel); err != nil || maxLevel < 2 {
			t.Errorf("highest level %d (%v), want merges of merges (2)", maxLevel, err)
		}
	}, Migrations)
}

// entryOfRound is an entry that appendRound also appends in round r:
// the first of that round, when it is not a repeat itself.
func entryOfRound(r int) audit.Entry {
	first := 0
	for i := range r {
		first += 3 + i%7
	}
	return audit.Entry{Time: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(first) * time.Millisecond),
		Actor: audit.Actor{Kind: audit.ActorClient, ID: "agency"}, Action: "oidc.token", Outcome: audit.Allowed,
		RequestID: fmt.Sprint("r-", r, "-", 0)}
}
