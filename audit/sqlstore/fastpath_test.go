package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
)

// TestAppendViewRefuses: on SQLite the one-statement append (the view
// audit_append) writes an entry only at the head and only while the
// outbox is empty; a refused row writes nothing at all.
func TestAppendViewRefuses(t *testing.T) {
	ctx := t.Context()
	d := dbtest.SQLite(t, sqlstore.Migrations)
	s := open(t, d)
	appendN(t, s, 0, 3)
	// The store stops here: its poller would drain the outbox row written
	// below into the log while the test looks at the triggers.
	s.Close()
	data, err := entry(9).Canonical()
	if err != nil {
		t.Fatal(err)
	}
	leaf := tlog.RecordHash(data)
	ins := `INSERT INTO audit_append (idx, leaf_hash, data, hashes) VALUES ($1, $2, $3, $4)`
	for _, idx := range []int64{2, 4, 0} { // behind the head, beyond it, at the start
		_, err := d.ExecContext(ctx, ins, idx, leaf[:], data, leaf[:])
		if err == nil || !strings.Contains(err.Error(), "head moved") {
			t.Errorf("append at %d with the head at 3: got %v, want the trigger's refusal", idx, err)
		}
	}
	// Two rows in one statement, the second out of place: the first is
	// undone with it.
	_, err = d.ExecContext(ctx, `INSERT INTO audit_append (idx, leaf_hash, data, hashes) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)`,
		3, leaf[:], data, leaf[:], 5, leaf[:], data, leaf[:])
	if err == nil {
		t.Error("a statement whose second row skips an index succeeded")
	}
	if _, err := d.ExecContext(ctx, `INSERT INTO audit_pending (data) VALUES ($1)`, data); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExecContext(ctx, ins, 3, leaf[:], data, leaf[:]); err == nil || !strings.Contains(err.Error(), "head moved") {
		t.Errorf("append at the head with an outbox row waiting: got %v, want the trigger's refusal", err)
	}
	var n, size int64
	if err := d.QueryRowContext(ctx, `SELECT count(*) FROM audit_entries`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := d.QueryRowContext(ctx, `SELECT size FROM audit_head`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	if n != 3 || size != 3 {
		t.Errorf("after refused appends: %d entries, head %d; want 3 and 3", n, size)
	}
	// The head is one past the last entry: a sequencing transaction that
	// sets another size fails.
	if _, err := d.ExecContext(ctx, `UPDATE audit_head SET size = 7 WHERE id = 1`); err == nil {
		t.Error("the head took a size its entries do not make")
	}
	if _, err := d.ExecContext(ctx, `UPDATE audit_head SET size = 3 WHERE id = 1`); err != nil {
		t.Errorf("setting the head to the size the entries make: %v", err)
	}
}

// TestStaleFrontier: two stores on one SQLite file take turns; each
// append of one finds the head moved by the other, falls back to the
// locked path, and the log stays gap-free, in order and one tree (checked
// by the independent verifier in checkTree of the conformance suite, here
// by the root of every size, checkLog).
func TestStaleFrontier(t *testing.T) {
	ctx := t.Context()
	d1, openDB := twoHandles(t)
	a, b := open(t, d1), open(t, openDB())
	const n = 40
	want := make([][]byte, n)
	for i := range n {
		s := a
		if i%3 == 1 { // a, b, a, a, b, a, …: sometimes the same store twice
			s = b
		}
		got, err := s.Append(ctx, entry(i))
		if err != nil {
			t.Fatal(err)
		}
		if got != int64(i) {
			t.Fatalf("append %d: index %d", i, got)
		}
		want[i], _ = entry(i).Canonical()
	}
	checkLog(t, b, want)
}

// twoHandles returns a migrated SQLite database and a function that opens
// further handles on the same file, as other replicas would.
func twoHandles(t *testing.T) (*db.DB, func() *db.DB) {
	path := filepath.Join(t.TempDir(), "audit.db")
	openDB := func() *db.DB {
		d, err := db.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	d := openDB()
	if _, err := d.Migrate(t.Context(), sqlstore.Migrations); err != nil {
		t.Fatal(err)
	}
	return d, openDB
}

// checkLog checks that s holds exactly the entries want, in order, and
// that the tree of every size has the root computed from them directly.
func checkLog(t *testing.T, s *sqlstore.Store, want [][]byte) {
	t.Helper()
	ctx := t.Context()
	n := int64(len(want))
	recs, err := s.Entries(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	leaves := make([]tlog.Hash, n)
	for i, r := range recs {
		if string(r.Data) != string(want[i]) {
			t.Fatalf("entry %d holds another entry", i)
		}
		leaves[i] = tlog.RecordHash(r.Data)
	}
	for size := int64(1); size <= n; size++ {
		got, err := tlog.TreeHash(size, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			hs, err := s.ReadHashes(ctx, idx)
			out := make([]tlog.Hash, len(hs))
			for i, h := range hs {
				out[i] = tlog.Hash(h)
			}
			return out, err
		}))
		if want := rootOf(leaves[:size]); err != nil || got != want {
			t.Fatalf("tree of size %d: got %v (%v), want %v", size, got, err, want)
		}
	}
}

// TestCommittedFrontier: on SQLite SequenceTxDone keeps the frontier of a
// tree that committed and the next call at that size reads none of its
// hashes. A call whose transaction rolled back must leave nothing behind:
// here the other store then appends a different entry at the same index,
// so a frontier kept from the rolled-back call would have the same size
// and the wrong hashes, and the tree would break. Entries also come by
// Append on both stores, so the kept frontier is sometimes stale by size.
func TestCommittedFrontier(t *testing.T) {
	ctx := t.Context()
	d1, openDB := twoHandles(t)
	a, b := open(t, d1), open(t, openDB())
	inTx := func(e audit.Entry, commit bool) int64 {
		t.Helper()
		tx, err := d1.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		first, done, err := a.SequenceTxDone(ctx, tx, e)
		if err != nil {
			tx.Rollback()
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		done(commit && err == nil)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
	var want [][]byte
	add := func(i int, got int64) {
		t.Helper()
		if got != int64(len(want)) {
			t.Fatalf("step %d: index %d, want %d", i, got, len(want))
		}
		data, _ := entry(i).Canonical()
		want = append(want, data)
	}
	for i := range 60 {
		switch i % 5 {
		case 0, 1: // a, in its own transaction, twice in a row
			add(i, inTx(entry(i), true))
		case 2: // a rolls back, then b takes the index a was given
			if got := inTx(entry(1000+i), false); got != int64(len(want)) {
				t.Fatalf("step %d: the rolled-back call got index %d, want %d", i, got, len(want))
			}
			got, err := b.Append(ctx, entry(i))
			if err != nil {
				t.Fatal(err)
			}
			add(i, got)
		case 3: // a appends by its group
			got, err := a.Append(ctx, entry(i))
			if err != nil {
				t.Fatal(err)
			}
			add(i, got)
		case 4: // b moves the head past what a knows
			got, err := b.Append(ctx, entry(i))
			if err != nil {
				t.Fatal(err)
			}
			add(i, got)
		}
	}
	checkLog(t, b, want)
}

// rootOf is the RFC 6962 root of leaves, computed directly.
func rootOf(leaves []tlog.Hash) tlog.Hash {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for 2*k < len(leaves) {
		k *= 2
	}
	return tlog.NodeHash(rootOf(leaves[:k]), rootOf(leaves[k:]))
}

// TestLeafIndexConfirmsWholeHash: the leaf-hash index is keyed by a prefix
// of the leaf hash; a row whose prefix matches but whose entry's hash differs is
// not an answer.
func TestLeafIndexConfirmsWholeHash(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s := open(t, d)
		appendN(t, s, 0, 5)
		data, _ := entry(3).Canonical()
		leaf := audit.LeafHash(data)
		if got, err := s.LeafIndex(ctx, leaf); err != nil || got != 3 {
			t.Fatalf("LeafIndex: got %d, %v; want 3", got, err)
		}
		// A row claiming entry 1 has the same prefix, sorted before 3.
		if _, err := d.ExecContext(ctx, `INSERT INTO audit_leaf_runs (run, k, idx) SELECT max(run), $1, 1 FROM audit_leaf_levels`, leaf[:8]); err != nil {
			t.Fatal(err)
		}
		if got, err := s.LeafIndex(ctx, leaf); err != nil || got != 3 {
			t.Errorf("LeafIndex with a colliding prefix: got %d, %v; want 3", got, err)
		}
		other := leaf
		other[31] ^= 1 // same prefix, another hash
		if _, err := s.LeafIndex(ctx, other); err == nil {
			t.Error("LeafIndex found a hash no entry has")
		}
	}, sqlstore.Migrations)
}

// TestLeafIndexUpgrade: migration 6 moves the leaf-hash index into
// audit_leaves: the entries below the indexer's watermark are copied in by
// the migration, the ones above by the indexer; migration 9 turns
// audit_leaves into the first run of the index (leaves.go); LeafIndex finds
// them all.
func TestLeafIndexUpgrade(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Migrate(ctx, sqlstore.Migrations[:5]); err != nil {
			t.Fatal(err)
		}
		const n, indexed = 8, 5
		leaves := make([]audit.Hash, n)
		for i := range n {
			data, err := entry(i).Canonical()
			if err != nil {
				t.Fatal(err)
			}
			leaves[i] = audit.LeafHash(data)
			if _, err := d.ExecContext(ctx, `INSERT INTO audit_entries (idx, leaf_hash, data) VALUES ($1, $2, $3)`, i, leaves[i][:], data); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range []string{`UPDATE audit_head SET size = 8`, `UPDATE audit_indexed SET size = 5`} {
			if _, err := d.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Migrate(ctx, sqlstore.Migrations[:8]); err != nil {
			t.Fatal(err)
		}
		var copied int
		if err := d.QueryRowContext(ctx, `SELECT count(*) FROM audit_leaves`).Scan(&copied); err != nil {
			t.Fatal(err)
		}
		if copied != indexed {
			t.Errorf("migration 6 copied %d leaf hashes, want the %d below the watermark", copied, indexed)
		}
		if _, err := d.Migrate(ctx, sqlstore.Migrations); err != nil {
			t.Fatal(err)
		}
		var run, level, inRun int
		if err := d.QueryRowContext(ctx, `SELECT run, level, (SELECT count(*) FROM audit_leaf_runs WHERE run = l.run) FROM audit_leaf_levels AS l`).Scan(&run, &level, &inRun); err != nil {
			t.Fatal(err)
		}
		if run != 1 || level != 0 || inRun != indexed {
			t.Errorf("migration 9: run %d at level %d with %d keys, want run 1 at level 0 with the %d of audit_leaves", run, level, inRun, indexed)
		}
		s := sqlstore.New(d, sqlstore.WithPollInterval(time.Hour)) // no background indexing: LeafIndex catches up itself
		t.Cleanup(s.Close)
		for i, leaf := range leaves {
			if got, err := s.LeafIndex(ctx, leaf); err != nil || got != int64(i) {
				t.Errorf("LeafIndex(entry %d): got %d, %v", i, got, err)
			}
		}
	})
}

// TestOneRowUpgrade: migration 7 moves each leaf's stored hashes from
// audit_hashes into its entry's row; the tree read back is the tree that
// was written, and the log grows from it.
func TestOneRowUpgrade(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Migrate(ctx, sqlstore.Migrations[:6]); err != nil {
			t.Fatal(err)
		}
		const n = 21
		var leaves []tlog.Hash
		err := storedHashes(n, func(i int64, leaf tlog.Hash, hashes []byte) error {
			leaves = append(leaves, leaf)
			if _, err := d.ExecContext(ctx, `INSERT INTO audit_entries (idx, leaf_hash, data) VALUES ($1, $2, $3)`, i, leaf[:], fmt.Appendf(nil, "entry %d", i)); err != nil {
				return err
			}
			_, err := d.ExecContext(ctx, `INSERT INTO audit_hashes (idx, hashes) VALUES ($1, $2)`, i, hashes)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.ExecContext(ctx, `UPDATE audit_head SET size = $1`, n); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Migrate(ctx, sqlstore.Migrations); err != nil {
			t.Fatal(err)
		}
		s := sqlstore.New(d, sqlstore.WithPollInterval(time.Hour))
		t.Cleanup(s.Close)
		if size, err := s.Size(ctx); err != nil || size != n {
			t.Fatalf("Size after the upgrade: %d, %v; want %d", size, err, n)
		}
		root, err := audit.TreeHash(ctx, s, n)
		if err != nil || tlog.Hash(root) != rootOf(leaves) {
			t.Fatalf("root after the upgrade: %v, %v; want %v", root, err, rootOf(leaves))
		}
		e := entry(n)
		data, _ := e.Canonical()
		if idx, err := s.Append(ctx, e); err != nil || idx != n {
			t.Fatalf("Append after the upgrade: %d, %v", idx, err)
		}
		leaves = append(leaves, tlog.RecordHash(data))
		if root, err := audit.TreeHash(ctx, s, n+1); err != nil || tlog.Hash(root) != rootOf(leaves) {
			t.Errorf("root after one more entry: %v, %v; want %v", root, err, rootOf(leaves))
		}
	})
}
