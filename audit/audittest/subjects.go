package audittest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/cedula/cedula/audit"
)

// testEntriesAbout: a store implementing audit.SubjectIndex finds every
// entry about a subject — appended with Append (alone or in groups), with
// AppendTx, and from a replica — newest first, page by page, and never an
// entry about anyone else. Stores without the index skip it.
func testEntriesAbout(t *testing.T, newLog func(*testing.T) Env) {
	env := newLog(t)
	idx, ok := env.Log.(audit.SubjectIndex)
	if !ok {
		t.Skip("the store does not implement audit.SubjectIndex")
	}
	ctx := context.Background()
	subjects := []string{"psn-ana", "psn-beto", "psn \"Núñez\" \\ </script>\n\t\u2028\u0000é", ""}
	want := map[string][]int64{}
	appendOne := func(e audit.Entry, first int64) { want[e.Subject] = append(want[e.Subject], first) }
	i := 0
	next := func() audit.Entry {
		e := newEntry("about", i)
		e.Subject = subjects[i%len(subjects)]
		i++
		return e
	}
	// One at a time, then groups.
	for range 9 {
		e := next()
		first, err := env.Log.Append(ctx, e)
		must(t, err, "Append")
		appendOne(e, first)
	}
	for range 3 {
		batch := []audit.Entry{next(), next(), next(), next(), next()}
		first, err := env.Log.Append(ctx, batch...)
		must(t, err, "Append group")
		for j, e := range batch {
			appendOne(e, first+int64(j))
		}
	}
	// Through the outbox.
	if env.DB != nil {
		setupChanges(t, env)
		var txEntries []audit.Entry
		for k := range 6 {
			e := next()
			must(t, change(ctx, env, env.Log, fmt.Sprintf("about-%d", k), e, false), "AppendTx")
			txEntries = append(txEntries, e)
		}
		must(t, env.Log.Flush(ctx), "Flush")
		all := readAll(t, env.Log)
		for _, e := range txEntries {
			for _, r := range all {
				got, err := r.Entry()
				must(t, err, "parse")
				if got.RequestID == e.RequestID {
					appendOne(e, r.Index)
				}
			}
		}
	}
	// From another replica.
	if env.Replica != nil {
		other := env.Replica(t)
		for range 4 {
			e := next()
			first, err := other.Append(ctx, e)
			must(t, err, "Append on the replica")
			appendOne(e, first)
		}
	}

	for _, sub := range subjects[:3] {
		w := slices.Clone(want[sub])
		slices.Sort(w)
		slices.Reverse(w)
		for _, limit := range []int{1, 2, 3, len(w), audit.MaxEntries} {
			var got []int64
			after := int64(0)
			for pages := 0; ; pages++ {
				if pages > len(w)+1 {
					t.Fatalf("subject %q limit %d: more pages than entries", sub, limit)
				}
				recs, nextAfter, err := idx.EntriesAbout(ctx, sub, after, limit)
				must(t, err, "EntriesAbout")
				if len(recs) > limit {
					t.Fatalf("EntriesAbout limit %d: %d records", limit, len(recs))
				}
				for _, r := range recs {
					e, err := r.Entry()
					must(t, err, fmt.Sprintf("parse record %d", r.Index))
					if e.Subject != sub {
						t.Errorf("EntriesAbout(%q) returned record %d about %q", sub, r.Index, e.Subject)
					}
					got = append(got, r.Index)
				}
				if nextAfter == 0 {
					break
				}
				if len(recs) == 0 || nextAfter != recs[len(recs)-1].Index {
					t.Fatalf("EntriesAbout: next %d, want the lowest index of a non-empty page", nextAfter)
				}
				after = nextAfter
			}
			if !slices.Equal(got, w) {
				t.Errorf("EntriesAbout(%q) limit %d: indices %v, want %v", sub, limit, got, w)
			}
		}
		// A cursor in the middle.
		if len(w) > 2 {
			recs, _, err := idx.EntriesAbout(ctx, sub, w[1], audit.MaxEntries)
			must(t, err, "EntriesAbout from a cursor")
			if len(recs) != len(w)-2 || recs[0].Index != w[2] {
				t.Errorf("EntriesAbout(%q, after %d): %d records, want %d starting at %d", sub, w[1], len(recs), len(w)-2, w[2])
			}
		}
	}
	recs, nextAfter, err := idx.EntriesAbout(ctx, "psn-nobody", 0, 10)
	if err != nil || len(recs) != 0 || nextAfter != 0 {
		t.Errorf("EntriesAbout(unknown): %d records, next %d, %v; want none", len(recs), nextAfter, err)
	}
	for _, bad := range []struct {
		sub   string
		after int64
		limit int
	}{{"", 0, 10}, {"psn-ana", 0, 0}, {"psn-ana", 0, audit.MaxEntries + 1}, {"psn-ana", -1, 10}} {
		_, _, err := idx.EntriesAbout(ctx, bad.sub, bad.after, bad.limit)
		wantErr(t, fmt.Sprintf("EntriesAbout(%q, %d, %d)", bad.sub, bad.after, bad.limit), err, audit.ErrBadRange)
	}
}
