package audittest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
)

// testSearch: a store implementing audit.Searcher finds exactly the
// entries matching each filter and combination of filters — appended with
// Append (alone or in groups), with AppendTx, and from a replica — newest
// first, page by page, as audit.Query.Matches says; invalid queries give
// ErrBadRange or ErrMalformed. Stores without the index skip it.
func testSearch(t *testing.T, newLog func(*testing.T) Env) {
	env := newLog(t)
	sr, ok := env.Log.(audit.Searcher)
	if !ok {
		t.Skip("the store does not implement audit.Searcher")
	}
	ctx := context.Background()
	i := 0
	next := func() audit.Entry {
		e := newEntry("search", i)
		if i%4 == 2 {
			e.Purpose = "dpv:LegalCompliance"
		}
		i++
		return e
	}
	for range 10 {
		_, err := env.Log.Append(ctx, next())
		must(t, err, "Append")
	}
	for range 4 {
		_, err := env.Log.Append(ctx, next(), next(), next(), next(), next())
		must(t, err, "Append group")
	}
	if env.DB != nil {
		setupChanges(t, env)
		for k := range 6 {
			must(t, change(ctx, env, env.Log, fmt.Sprintf("search-%d", k), next(), false), "AppendTx")
		}
		must(t, env.Log.Flush(ctx), "Flush")
	}
	if env.Replica != nil {
		other := env.Replica(t)
		for range 4 {
			_, err := other.Append(ctx, next())
			must(t, err, "Append on the replica")
		}
	}
	all := readAll(t, env.Log)
	entries := make([]audit.Entry, len(all))
	for k, r := range all {
		e, err := r.Entry()
		must(t, err, "parse")
		entries[k] = e
	}
	mid := entries[len(entries)/2].Time
	late := entries[len(entries)*3/4].Time
	queries := []audit.Query{
		{},
		{ActorKind: audit.ActorDPO},
		{ActorID: "actor-search-2"},
		{Action: "oidc.token"},
		{Purpose: "dpv:LegalCompliance"},
		{Purpose: "dpv:Purpose/ñ"},
		{Subject: "psn-search-4"},
		{Subject: "psn \"Núñez\" \\ </script>\n\t\u2028\u0000é"},
		{Outcome: audit.Denied},
		{From: mid},
		{To: mid},
		{From: mid, To: late},
		{From: mid, To: mid},
		{ActorKind: audit.ActorClient, Outcome: audit.Allowed},
		{Action: "consent.decide", Subject: "psn-search-0", From: entries[0].Time},
		{ActorID: "actor-search-1", Action: "oidc.token", Purpose: "dpv:ServiceProvision", Outcome: audit.Failed, ActorKind: audit.ActorClient},
		{Action: "no.such-action"},
	}
	for _, q := range queries {
		var want []int64
		for k := len(entries) - 1; k >= 0; k-- {
			if q.Matches(entries[k]) {
				want = append(want, int64(k))
			}
		}
		if len(want) == 0 && q.Action != "no.such-action" && !q.From.Equal(q.To) {
			t.Errorf("query %+v matches nothing: the test data should exercise it", q)
		}
		for _, limit := range []int{1, 3, audit.MaxSearch} {
			q := q
			q.Limit = limit
			var got []int64
			for pages := 0; ; pages++ {
				if pages > len(want)+1 {
					t.Fatalf("query %+v: more pages than entries", q)
				}
				recs, nextAfter, err := sr.Search(ctx, q)
				must(t, err, "Search")
				if len(recs) > limit {
					t.Fatalf("Search limit %d: %d records", limit, len(recs))
				}
				for _, r := range recs {
					if string(r.Data) != string(all[r.Index].Data) {
						t.Errorf("Search: record %d data differs from Entries", r.Index)
					}
					got = append(got, r.Index)
				}
				if nextAfter == 0 {
					break
				}
				if len(recs) == 0 || nextAfter != recs[len(recs)-1].Index {
					t.Fatalf("Search: next %d, want the lowest index of a non-empty page", nextAfter)
				}
				q.After = nextAfter
			}
			if !slices.Equal(got, want) {
				t.Errorf("Search(%+v): indices %v, want %v", q, got, want)
			}
		}
	}
	for _, bad := range []struct {
		q    audit.Query
		want error
	}{
		{audit.Query{}, audit.ErrBadRange},
		{audit.Query{Limit: audit.MaxSearch + 1}, audit.ErrBadRange},
		{audit.Query{Limit: 10, After: -1}, audit.ErrBadRange},
		{audit.Query{Limit: 10, From: mid.Add(time.Second), To: mid}, audit.ErrBadRange},
		{audit.Query{Limit: 10, ActorKind: "robot"}, audit.ErrMalformed},
		{audit.Query{Limit: 10, Outcome: "maybe"}, audit.ErrMalformed},
	} {
		_, _, err := sr.Search(ctx, bad.q)
		wantErr(t, fmt.Sprintf("Search(%+v)", bad.q), err, bad.want)
	}
}
