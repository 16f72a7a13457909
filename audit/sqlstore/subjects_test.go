package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
)

// TestSubjectIndexBackfill: migration 3 indexes the entries a log held
// before it, so that EntriesAbout finds them too.
func TestSubjectIndexBackfill(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Migrate(ctx, sqlstore.Migrations[:2]); err != nil {
			t.Fatal(err)
		}
		subjects := []string{"psn-ana", "psn-beto", "", `psn "quoted" \ é`}
		for i := range 8 {
			e := audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorSystem, ID: "test"}, Action: "x.read",
				Subject: subjects[i%len(subjects)], Outcome: audit.Allowed, RequestID: fmt.Sprint(i)}
			data, err := e.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			leaf := audit.LeafHash(data)
			if _, err := d.ExecContext(ctx, `INSERT INTO audit_entries (idx, leaf_hash, data) VALUES ($1, $2, $3)`, i, leaf[:], data); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Migrate(ctx, sqlstore.Migrations); err != nil {
			t.Fatal(err)
		}
		s := open(t, d)
		for k, sub := range subjects {
			if sub == "" {
				continue
			}
			recs, next, err := s.EntriesAbout(ctx, sub, 0, 10)
			if err != nil || next != 0 || len(recs) != 2 || recs[0].Index != int64(k+4) || recs[1].Index != int64(k) {
				t.Errorf("EntriesAbout(%q): %v, next %d, %v; want indices %d and %d", sub, recs, next, err, k+4, k)
			}
		}
	})
}

// TestSearchIndexBackfill: migrations 3 and 4 index the entries a log held
// before it, so that Search finds them too.
func TestSearchIndexBackfill(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Migrate(ctx, sqlstore.Migrations[:2]); err != nil {
			t.Fatal(err)
		}
		base := time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)
		var entries []audit.Entry
		for i := range 8 {
			e := audit.Entry{Time: base.Add(time.Duration(i) * time.Minute), Actor: audit.Actor{Kind: []audit.ActorKind{audit.ActorSystem, audit.ActorClient}[i%2], ID: fmt.Sprint("a", i%3)},
				Action: []string{"x.read", "x.write"}[i%2], Purpose: []string{"dpv:A", `dpv:"é"`}[i%2], Subject: fmt.Sprint("psn-", i%2),
				Outcome: []audit.Outcome{audit.Allowed, audit.Denied}[i%2], RequestID: fmt.Sprint(i)}
			data, err := e.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			leaf := audit.LeafHash(data)
			if _, err := d.ExecContext(ctx, `INSERT INTO audit_entries (idx, leaf_hash, data) VALUES ($1, $2, $3)`, i, leaf[:], data); err != nil {
				t.Fatal(err)
			}
			entries = append(entries, e)
		}
		if _, err := d.Migrate(ctx, sqlstore.Migrations); err != nil {
			t.Fatal(err)
		}
		s := open(t, d)
		for _, q := range []audit.Query{
			{ActorKind: audit.ActorClient}, {ActorID: "a1"}, {Action: "x.write"}, {Purpose: `dpv:"é"`}, {Outcome: audit.Denied},
			{Subject: "psn-1"}, {From: base.Add(2 * time.Minute), To: base.Add(5 * time.Minute)}, {From: base.Add(2*time.Minute + time.Microsecond)},
		} {
			var want []int64
			for i := len(entries) - 1; i >= 0; i-- {
				if q.Matches(entries[i]) {
					want = append(want, int64(i))
				}
			}
			q.Limit = 10
			recs, _, err := s.Search(ctx, q)
			var got []int64
			for _, r := range recs {
				got = append(got, r.Index)
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) || len(want) == 0 {
				t.Errorf("Search(%+v): %v, %v; want %v", q, got, err, want)
			}
		}
	})
}
