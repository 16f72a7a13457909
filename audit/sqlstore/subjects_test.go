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
