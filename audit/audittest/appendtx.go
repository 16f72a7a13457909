package audittest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cedula/cedula/audit"
)

// changesTable is the suite's own table: a row in it is "the change" that
// an entry appended with AppendTx records.
const changesTable = `CREATE TABLE IF NOT EXISTS audittest_changes (id TEXT PRIMARY KEY)`

func setupChanges(t *testing.T, env Env) {
	t.Helper()
	if env.DB == nil {
		t.Fatal("Env.DB is nil: the AppendTx tests need the log's database")
	}
	_, err := env.DB.ExecContext(t.Context(), changesTable)
	must(t, err, "create audittest_changes")
}

// change writes the change id and its entry e in one transaction, then
// commits, or rolls back when rollback is set. It returns the error of the
// change, of AppendTx or of the commit.
func change(ctx context.Context, env Env, l audit.Appender, id string, e audit.Entry, rollback bool) error {
	tx, err := env.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audittest_changes (id) VALUES ($1)`, id); err != nil {
		tx.Rollback()
		return err
	}
	if err := l.AppendTx(ctx, tx, e); err != nil {
		tx.Rollback()
		return err
	}
	if rollback {
		return tx.Rollback()
	}
	return tx.Commit()
}

func hasChange(t testing.TB, env Env, id string) bool {
	t.Helper()
	var n int
	err := env.DB.QueryRowContext(context.Background(), `SELECT count(*) FROM audittest_changes WHERE id = $1`, id).Scan(&n)
	must(t, err, "count changes")
	return n == 1
}

func size(t testing.TB, l audit.Reader) int64 {
	t.Helper()
	n, err := l.Size(context.Background())
	must(t, err, "Size")
	return n
}

func testAppendTxCommit(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	setupChanges(t, env)
	l := env.Log
	_, err := l.Append(ctx, newEntry("before", 0))
	must(t, err, "Append")
	e := newEntry("tx", 1)
	must(t, change(ctx, env, l, "c1", e, false), "change c1")
	must(t, l.Flush(ctx), "Flush")
	if got := size(t, l); got != 2 {
		t.Fatalf("Size after Flush: got %d, want 2", got)
	}
	recs, err := l.Entries(ctx, 1, 2)
	must(t, err, "Entries(1, 2)")
	checkEntry(t, recs[0], e)
	if !hasChange(t, env, "c1") {
		t.Errorf("change c1: got absent, want present")
	}
	// Without Flush the store sequences the outbox by itself.
	e2 := newEntry("tx", 2)
	must(t, change(ctx, env, l, "c2", e2, false), "change c2")
	waitSize(t, l, 3)
	recs, err = l.Entries(ctx, 2, 3)
	must(t, err, "Entries(2, 3)")
	checkEntry(t, recs[0], e2)
	checkTree(t, l, readAll(t, l))
}

// waitSize waits until the log has want entries, failing after a long
// while: it checks liveness, not speed.
func waitSize(t testing.TB, l audit.Reader, want int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for {
		n, err := l.Size(ctx)
		if err == nil && n >= want {
			if n > want {
				t.Fatalf("Size: got %d, want %d", n, want)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("Size: got %d (%v), want %d: the store did not sequence its outbox by itself", n, err, want)
		}
		sleep(ctx)
	}
}

func testAppendTxRollback(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	setupChanges(t, env)
	l := env.Log
	_, err := l.Append(ctx, newEntry("before", 0), newEntry("before", 1))
	must(t, err, "Append")
	must(t, change(ctx, env, l, "gone", newEntry("rolled-back", 0), true), "rolled-back change")
	must(t, l.Flush(ctx), "Flush")
	if got := size(t, l); got != 2 {
		t.Errorf("Size after a rollback: got %d, want 2", got)
	}
	if hasChange(t, env, "gone") {
		t.Errorf("change gone: got present, want absent")
	}
	// No gap: the next entry takes index 2.
	first, err := l.Append(ctx, newEntry("after", 0))
	must(t, err, "Append after")
	if first != 2 {
		t.Errorf("Append after a rollback: got index %d, want 2", first)
	}
	must(t, change(ctx, env, l, "kept", newEntry("committed", 0), false), "committed change")
	must(t, l.Flush(ctx), "Flush")
	recs := readAll(t, l)
	if got, want := requestIDs(t, recs), []string{"before/0", "before/1", "after/0", "committed/0"}; !slices.Equal(got, want) {
		t.Errorf("entries: got %q, want %q", got, want)
	}
	checkTree(t, l, recs)
}

// testAppendTxFailedChange: the change fails after its entry was written
// in the transaction; the caller rolls back and no entry remains.
func testAppendTxFailedChange(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	setupChanges(t, env)
	l := env.Log
	must(t, change(ctx, env, l, "dup", newEntry("first", 0), false), "first change")
	tx, err := env.DB.BeginTx(ctx, nil)
	must(t, err, "begin")
	must(t, l.AppendTx(ctx, tx, newEntry("second", 0)), "AppendTx")
	if _, err := tx.ExecContext(ctx, `INSERT INTO audittest_changes (id) VALUES ($1)`, "dup"); err == nil {
		t.Fatal("inserting a duplicate change: got nil error, want a unique violation")
	}
	must(t, tx.Rollback(), "rollback")
	must(t, l.Flush(ctx), "Flush")
	if got, want := requestIDs(t, readAll(t, l)), []string{"first/0"}; !slices.Equal(got, want) {
		t.Errorf("entries: got %q, want %q", got, want)
	}
}

func testAppendTxInvalid(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	setupChanges(t, env)
	l := env.Log
	bad := newEntry("bad", 0)
	bad.Outcome = ""
	err := change(ctx, env, l, "c", bad, false)
	wantErr(t, "AppendTx of an invalid entry", err, audit.ErrInvalidEntry)
	must(t, l.Flush(ctx), "Flush")
	if got := size(t, l); got != 0 {
		t.Errorf("Size: got %d, want 0", got)
	}
}

// testAppendTxConcurrent: goroutines mix Append, AppendTx that commits and
// AppendTx that rolls back. Afterwards the log holds exactly the appended
// and committed entries, once each, with no gap, and exactly the committed
// changes exist.
func testAppendTxConcurrent(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	setupChanges(t, env)
	l := env.Log
	const goroutines, ops = 16, 24
	var mu sync.Mutex
	want := map[string]bool{}
	committed := 0
	errs := together(goroutines, func(g int) error {
		for op := range ops {
			e := newEntry(fmt.Sprintf("m%d", g), op)
			var err error
			switch op % 3 {
			case 0:
				_, err = l.Append(ctx, e)
			case 1:
				err = change(ctx, env, l, e.RequestID, e, false)
			case 2:
				err = change(ctx, env, l, e.RequestID, e, true)
			}
			if err != nil {
				return fmt.Errorf("goroutine %d op %d: %w", g, op, err)
			}
			mu.Lock()
			if op%3 != 2 {
				want[e.RequestID] = true
			}
			if op%3 == 1 {
				committed++
			}
			mu.Unlock()
		}
		return nil
	})
	must(t, firstErr(errs), "ops")
	must(t, l.Flush(ctx), "Flush")
	logGroupStats(t, l)
	recs := readAll(t, l)
	got := map[string]int{}
	for _, id := range requestIDs(t, recs) {
		got[id]++
	}
	for id, n := range got {
		switch {
		case !want[id]:
			t.Errorf("entry %s: got it in the log, want it absent (its transaction rolled back)", id)
		case n != 1:
			t.Errorf("entry %s: got %d times, want once", id, n)
		}
	}
	for id := range want {
		if got[id] == 0 {
			t.Errorf("entry %s: got absent, want present", id)
		}
	}
	var changes int
	must(t, env.DB.QueryRowContext(ctx, `SELECT count(*) FROM audittest_changes`).Scan(&changes), "count changes")
	if changes != committed {
		t.Errorf("changes: got %d, want %d", changes, committed)
	}
	checkTree(t, l, recs)
}

// testReplicas: two logs over one database append concurrently (Append
// and AppendTx): one log, no gap, no duplicate, one tree both see.
func testReplicas(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	if env.Replica == nil {
		t.Skip("the store offers no second replica (Env.Replica is nil)")
	}
	setupChanges(t, env)
	logs := []audit.Log{env.Log, env.Replica(t)}
	const goroutines, ops = 16, 30
	var mu sync.Mutex
	want := map[string]bool{}
	errs := together(2*goroutines, func(g int) error {
		l := logs[g%2]
		for op := range ops {
			e := newEntry(fmt.Sprintf("r%d", g), op)
			var err error
			if op%4 == 3 {
				err = change(ctx, env, l, e.RequestID, e, false)
			} else {
				_, err = l.Append(ctx, e)
			}
			if err != nil {
				return fmt.Errorf("replica %d goroutine %d op %d: %w", g%2, g, op, err)
			}
			mu.Lock()
			want[e.RequestID] = true
			mu.Unlock()
		}
		return nil
	})
	must(t, firstErr(errs), "ops")
	for _, l := range logs {
		must(t, l.Flush(ctx), "Flush")
	}
	recs := readAll(t, logs[1])
	if len(recs) != len(want) {
		t.Errorf("Size: got %d, want %d", len(recs), len(want))
	}
	seen := map[string]bool{}
	for i, id := range requestIDs(t, recs) {
		if seen[id] {
			t.Errorf("index %d: entry %s again", i, id)
		}
		if !want[id] {
			t.Errorf("index %d: entry %s was never appended", i, id)
		}
		seen[id] = true
	}
	for _, l := range logs {
		checkTree(t, l, recs)
	}
}
