package audittest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cedula/cedula/audit"
)

// sequenced writes the change id and numbers entries with SequenceTx in
// one transaction, then commits or rolls back. It returns the index
// SequenceTx gave the first entry.
func sequenced(ctx context.Context, env Env, l audit.TxSequencer, id string, rollback bool, entries ...audit.Entry) (int64, error) {
	tx, err := env.DB.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audittest_changes (id) VALUES ($1)`, id); err != nil {
		tx.Rollback()
		return 0, err
	}
	first, err := l.SequenceTx(ctx, tx, entries...)
	if err != nil {
		tx.Rollback()
		return 0, err
	}
	if rollback {
		return first, tx.Rollback()
	}
	return first, tx.Commit()
}

func sequencer(t *testing.T, env Env) audit.TxSequencer {
	t.Helper()
	seq, ok := env.Log.(audit.TxSequencer)
	if !ok {
		t.Skip("the store does not number entries inside a transaction (no audit.TxSequencer)")
	}
	setupChanges(t, env)
	return seq
}

// testSequenceTx: entries numbered in a transaction that commits are in
// the log at once, at the index SequenceTx returned, with the tree
// extended; a transaction that rolls back leaves no entry, no gap and no
// hash behind, and the next append takes the index it had been given.
func testSequenceTx(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	seq := sequencer(t, env)
	l := env.Log
	_, err := l.Append(ctx, newEntry("before", 0), newEntry("before", 1), newEntry("before", 2))
	must(t, err, "Append")

	first, err := sequenced(ctx, env, seq, "c1", false, newEntry("seq", 0), newEntry("seq", 1))
	must(t, err, "SequenceTx and commit")
	if first != 3 || size(t, l) != 5 {
		t.Errorf("after commit: first %d, size %d; want 3 and 5 without a Flush", first, size(t, l))
	}
	if !hasChange(t, env, "c1") {
		t.Error("the committed change is missing")
	}

	first, err = sequenced(ctx, env, seq, "c2", true, newEntry("gone", 0))
	must(t, err, "SequenceTx and roll back")
	if first != 5 || size(t, l) != 5 || hasChange(t, env, "c2") {
		t.Errorf("after roll-back: first %d, size %d; want 5 and 5, and no change", first, size(t, l))
	}
	i, err := l.Append(ctx, newEntry("after", 0))
	must(t, err, "Append")
	if i != 5 {
		t.Errorf("the append after a roll-back got index %d, want 5", i)
	}
	// An entry committed through the outbox before comes first, drained
	// or not yet.
	must(t, change(ctx, env, l, "c4", newEntry("outbox", 0), false), "AppendTx")
	first, err = sequenced(ctx, env, seq, "c5", false, newEntry("next", 0))
	must(t, err, "SequenceTx after AppendTx")
	if first != 7 || size(t, l) != 8 {
		t.Errorf("after an outbox entry: first %d, size %d; want 7 and 8", first, size(t, l))
	}
	recs := readAll(t, l)
	ids := requestIDs(t, recs)
	want := []string{"before/0", "before/1", "before/2", "seq/0", "seq/1", "after/0", "outbox/0", "next/0"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("log: got %v, want %v", ids, want)
	}
	checkTree(t, l, recs)

	_, err = sequenced(ctx, env, seq, "c3", false, audit.Entry{Action: "no actor"})
	wantErr(t, "SequenceTx of an invalid entry", err, audit.ErrInvalidEntry)
	if size(t, l) != 8 || hasChange(t, env, "c3") {
		t.Errorf("after an invalid entry: size %d, want 8 and no change", size(t, l))
	}
}

// testSequenceTxConcurrent: goroutines mix Append, AppendTx and SequenceTx
// (some rolling back). The log holds exactly the committed entries, once
// each, gap-free, and every proof of the tree verifies.
func testSequenceTxConcurrent(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	seq := sequencer(t, env)
	l := env.Log
	const goroutines, ops = 12, 20
	var mu sync.Mutex
	want := map[string]bool{}
	errs := together(goroutines, func(g int) error {
		for op := range ops {
			e := newEntry(fmt.Sprintf("s%d", g), op)
			var err error
			keep := true
			switch op % 4 {
			case 0:
				_, err = l.Append(ctx, e)
			case 1:
				err = change(ctx, env, l, e.RequestID, e, false)
			case 2:
				_, err = sequenced(ctx, env, seq, e.RequestID, false, e)
			case 3:
				_, err = sequenced(ctx, env, seq, e.RequestID, true, e)
				keep = false
			}
			if err != nil {
				return fmt.Errorf("goroutine %d op %d: %w", g, op, err)
			}
			if keep {
				mu.Lock()
				want[e.RequestID] = true
				mu.Unlock()
			}
		}
		return nil
	})
	must(t, firstErr(errs), "ops")
	must(t, l.Flush(ctx), "Flush")
	recs := readAll(t, l)
	got := map[string]int{}
	for _, id := range requestIDs(t, recs) {
		got[id]++
	}
	for id, n := range got {
		if !want[id] || n != 1 {
			t.Errorf("entry %s: %d times in the log, want %d", id, n, map[bool]int{true: 1}[want[id]])
		}
	}
	if len(got) != len(want) {
		t.Errorf("log holds %d distinct entries, want %d", len(got), len(want))
	}
	checkTree(t, l, recs)
}

// testAppendFollowsCommitOrder: an entry committed through the outbox
// comes before one appended afterwards, even when no Flush ran between.
func testAppendFollowsCommitOrder(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	setupChanges(t, env)
	l := env.Log
	for i := range 5 {
		must(t, change(ctx, env, l, fmt.Sprintf("o%d", i), newEntry("outbox", i), false), "AppendTx")
		_, err := l.Append(ctx, newEntry("direct", i))
		must(t, err, "Append")
	}
	must(t, l.Flush(ctx), "Flush")
	ids := requestIDs(t, readAll(t, l))
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("outbox/%d", i), fmt.Sprintf("direct/%d", i))
	}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("log order: got %v, want %v", ids, want)
	}
}
