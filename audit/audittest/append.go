package audittest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
)

func testEmpty(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	l := env.Log
	n, err := l.Size(ctx)
	must(t, err, "Size")
	if n != 0 {
		t.Errorf("Size: got %d, want 0", n)
	}
	recs, err := l.Entries(ctx, 0, 0)
	must(t, err, "Entries(0, 0)")
	if len(recs) != 0 {
		t.Errorf("Entries(0, 0): got %d records, want 0", len(recs))
	}
	_, err = l.Entries(ctx, 0, 1)
	wantErr(t, "Entries(0, 1)", err, audit.ErrOutOfRange)
	_, err = l.LeafIndex(ctx, audit.LeafHash([]byte("nothing")))
	wantErr(t, "LeafIndex", err, audit.ErrNotFound)
	root, err := audit.TreeHash(ctx, l, 0)
	must(t, err, "TreeHash(0)")
	if root != audit.EmptyRoot {
		t.Errorf("TreeHash(0): got %s, want %s", root, audit.EmptyRoot)
	}
	must(t, l.Flush(ctx), "Flush")
}

func testAppendReadBack(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	l := newLog(t).Log
	var want []audit.Entry
	for i := range 15 {
		want = append(want, newEntry("rb", i))
	}
	first, err := l.Append(ctx, want[0])
	must(t, err, "Append one")
	if first != 0 {
		t.Errorf("Append one: got first index %d, want 0", first)
	}
	first, err = l.Append(ctx, want[1:]...)
	must(t, err, "Append 14")
	if first != 1 {
		t.Errorf("Append 14: got first index %d, want 1", first)
	}
	n, err := l.Size(ctx)
	must(t, err, "Size")
	if n != 15 {
		t.Fatalf("Size: got %d, want 15", n)
	}
	recs, err := l.Entries(ctx, 0, 15)
	must(t, err, "Entries(0, 15)")
	if len(recs) != 15 {
		t.Fatalf("Entries(0, 15): got %d records, want 15", len(recs))
	}
	for i, r := range recs {
		if r.Index != int64(i) {
			t.Errorf("record %d: got index %d", i, r.Index)
		}
		checkEntry(t, r, want[i])
	}
	sub, err := l.Entries(ctx, 4, 7)
	must(t, err, "Entries(4, 7)")
	if len(sub) != 3 || sub[0].Index != 4 || sub[2].Index != 6 {
		t.Errorf("Entries(4, 7): got %d records from %v, want 3 from 4", len(sub), sub)
	}
}

// testAppendStampsZeroTime: an entry without a time gets the store's.
func testAppendStampsZeroTime(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	l := newLog(t).Log
	e := newEntry("zt", 0)
	e.Time = time.Time{}
	i, err := l.Append(ctx, e)
	must(t, err, "Append")
	recs, err := l.Entries(ctx, i, i+1)
	must(t, err, "Entries")
	got, err := recs[0].Entry()
	must(t, err, "parse")
	if got.Time.IsZero() || got.Time.Location() != time.UTC {
		t.Errorf("Time: got %v, want a non-zero UTC time", got.Time)
	}
}

func testAppendInvalid(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	l := newLog(t).Log
	_, err := l.Append(ctx, newEntry("ok", 0))
	must(t, err, "Append")
	for _, tc := range []struct {
		name   string
		change func(*audit.Entry)
	}{
		{"no actor kind", func(e *audit.Entry) { e.Actor.Kind = "" }},
		{"unknown actor kind", func(e *audit.Entry) { e.Actor.Kind = "robot" }},
		{"no actor id", func(e *audit.Entry) { e.Actor.ID = "" }},
		{"no action", func(e *audit.Entry) { e.Action = "" }},
		{"unknown outcome", func(e *audit.Entry) { e.Outcome = "maybe" }},
		{"invalid UTF-8", func(e *audit.Entry) { e.Subject = "psn-\xff" }},
		{"repeated category", func(e *audit.Entry) { e.Categories = []string{"a", "b", "a"} }},
		{"empty category", func(e *audit.Entry) { e.Categories = []string{""} }},
		{"details too long", func(e *audit.Entry) { e.Details = make([]byte, audit.MaxDetails+1) }},
		{"field too long", func(e *audit.Entry) { e.Purpose = string(make([]byte, audit.MaxFieldLen+1)) }},
		{"year 10000", func(e *audit.Entry) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := newEntry("bad", 1)
			tc.change(&bad)
			// The invalid entry sits between valid ones: none is appended.
			_, err := l.Append(ctx, newEntry("ok", 2), bad, newEntry("ok", 3))
			wantErr(t, "Append", err, audit.ErrInvalidEntry)
			if !audit.IsBadRequest(err) {
				t.Errorf("IsBadRequest(%v): got false, want true", err)
			}
			n, err := l.Size(ctx)
			must(t, err, "Size")
			if n != 1 {
				t.Errorf("Size: got %d, want 1", n)
			}
		})
	}
}

func testAppendNothing(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	l := newLog(t).Log
	_, err := l.Append(ctx, newEntry("a", 0), newEntry("a", 1))
	must(t, err, "Append")
	first, err := l.Append(ctx)
	must(t, err, "Append()")
	if first != 2 {
		t.Errorf("Append(): got %d, want the size, 2", first)
	}
}

func testEntriesRanges(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	l := newLog(t).Log
	for i := range 5 {
		_, err := l.Append(ctx, newEntry("r", i))
		must(t, err, "Append")
	}
	for _, tc := range []struct {
		start, end int64
		want       error
		n          int
	}{
		{0, 5, nil, 5},
		{2, 2, nil, 0},
		{5, 5, nil, 0},
		{4, 5, nil, 1},
		{-1, 2, audit.ErrBadRange, 0},
		{3, 2, audit.ErrBadRange, 0},
		{0, 6, audit.ErrOutOfRange, 0},
		{6, 7, audit.ErrOutOfRange, 0},
		{0, audit.MaxEntries + 1, audit.ErrBadRange, 0},
	} {
		recs, err := l.Entries(ctx, tc.start, tc.end)
		op := fmt.Sprintf("Entries(%d, %d)", tc.start, tc.end)
		if wantErr(t, op, err, tc.want) && err == nil && len(recs) != tc.n {
			t.Errorf("%s: got %d records, want %d", op, len(recs), tc.n)
		}
		if tc.want != nil && !audit.IsBadRequest(err) {
			t.Errorf("%s: IsBadRequest(%v) = false, want true", op, err)
		}
	}
}

func testLeafIndex(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	l := newLog(t).Log
	a, b := newEntry("li", 0), newEntry("li", 1)
	// The same entry twice: LeafIndex names the first.
	_, err := l.Append(ctx, a, b, a)
	must(t, err, "Append")
	for _, tc := range []struct {
		e    audit.Entry
		want int64
	}{{a, 0}, {b, 1}} {
		data, err := tc.e.Canonical()
		must(t, err, "Canonical")
		got, err := l.LeafIndex(ctx, audit.LeafHash(data))
		must(t, err, "LeafIndex")
		if got != tc.want {
			t.Errorf("LeafIndex(%s): got %d, want %d", tc.e.RequestID, got, tc.want)
		}
	}
}

// testConcurrentAppends: 32 goroutines × 50 appends (every fifth a batch
// of three): every index from 0 to the size is taken exactly once, each
// batch's indices are consecutive, and each index holds what its caller
// appended.
func testConcurrentAppends(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	l := newLog(t).Log
	const goroutines, calls = 32, 50
	type call struct {
		first int64
		ids   []string
	}
	var mu sync.Mutex
	var done []call
	errs := together(goroutines, func(g int) error {
		for c := range calls {
			k := 1
			if c%5 == 4 {
				k = 3
			}
			var es []audit.Entry
			var ids []string
			for j := range k {
				e := newEntry(fmt.Sprintf("g%d", g), c*3+j)
				es = append(es, e)
				ids = append(ids, e.RequestID)
			}
			first, err := l.Append(ctx, es...)
			if err != nil {
				return fmt.Errorf("goroutine %d call %d: %w", g, c, err)
			}
			mu.Lock()
			done = append(done, call{first, ids})
			mu.Unlock()
		}
		return nil
	})
	must(t, firstErr(errs), "Append")
	logGroupStats(t, l)
	total := goroutines * (calls + 2*(calls/5))
	recs := readAll(t, l)
	if len(recs) != total {
		t.Fatalf("Size: got %d, want %d", len(recs), total)
	}
	ids := requestIDs(t, recs)
	taken := make([]int, total)
	for _, c := range done {
		for j, id := range c.ids {
			i := c.first + int64(j)
			if i < 0 || i >= int64(total) {
				t.Errorf("%s: got index %d, want one in [0, %d)", id, i, total)
				continue
			}
			taken[i]++
			if ids[i] != id {
				t.Errorf("index %d: got entry %s, want %s (appended there)", i, ids[i], id)
			}
		}
	}
	for i, n := range taken {
		if n != 1 {
			t.Errorf("index %d: returned to %d callers, want 1", i, n)
		}
	}
	if sorted := slices.Sorted(slices.Values(ids)); len(slices.Compact(sorted)) != total {
		t.Errorf("got %d distinct entries, want %d", len(slices.Compact(sorted)), total)
	}
	checkTree(t, l, recs)
}
