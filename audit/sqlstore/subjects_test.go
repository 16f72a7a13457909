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
		// The head as the store keeps it: one past the last entry.
		if _, err := d.ExecContext(ctx, `UPDATE audit_head SET size = (SELECT count(*) FROM audit_entries)`); err != nil {
			t.Fatal(err)
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
		// The head as the store keeps it: one past the last entry.
		if _, err := d.ExecContext(ctx, `UPDATE audit_head SET size = (SELECT count(*) FROM audit_entries)`); err != nil {
			t.Fatal(err)
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

// TestIndexerCatchesUp: the indexes trail the log and are brought up to it
// in batches; a query sees every entry appended before it, each once,
// across more entries than one indexing batch takes.
func TestIndexerCatchesUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Migrate(ctx, sqlstore.Migrations); err != nil {
			t.Fatal(err)
		}
		s := open(t, d)
		const n = 20_000 // more than indexBatch
		for start := 0; start < n; start += 500 {
			batch := make([]audit.Entry, 500)
			for i := range batch {
				k := start + i
				batch[i] = audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorSystem, ID: "test"}, Action: "x.read",
					Subject: []string{"psn-a", "psn-b"}[k%2], Outcome: audit.Allowed, RequestID: fmt.Sprint(k)}
			}
			if _, err := s.Append(ctx, batch...); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[int64]bool{}
		for after := int64(0); ; {
			recs, next, err := s.EntriesAbout(ctx, "psn-a", after, audit.MaxEntries)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if seen[r.Index] || r.Index%2 != 0 {
					t.Fatalf("entry %d returned twice or about another subject", r.Index)
				}
				seen[r.Index] = true
			}
			if next == 0 {
				break
			}
			after = next
		}
		if len(seen) != n/2 {
			t.Errorf("EntriesAbout found %d entries, want %d", len(seen), n/2)
		}
		var rows, watermark int
		if err := d.QueryRowContext(ctx, `SELECT count(*) FROM audit_index`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if err := d.QueryRowContext(ctx, `SELECT size FROM audit_indexed`).Scan(&watermark); err != nil {
			t.Fatal(err)
		}
		if rows != n || watermark != n {
			t.Errorf("search index: %d rows, watermark %d; want %d and %d", rows, watermark, n, n)
		}
	})
}
