package sqlstore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/issuer"
)

// TestDeleteTokensInBatches: expired tokens go a batch at a time, through
// the expiry index, however many there are; live ones stay.
func TestDeleteTokensInBatches(t *testing.T) {
	defer func(n int) { deleteBatch = n }(deleteBatch)
	deleteBatch = 3
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s := New(d)
		t.Cleanup(s.Close)
		cut := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		for i := range 10 {
			exp := cut.Add(time.Duration(i-7) * time.Minute) // 7 expired, 3 not
			if err := s.CreateAccessToken(ctx, issuer.AccessToken{ID: fmt.Sprint("at-", i), ClientID: "c", Expiration: exp}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.DeleteTokensBefore(ctx, cut)
		if err != nil || n != 7 {
			t.Fatalf("DeleteTokensBefore: %d, %v; want 7 deleted", n, err)
		}
		for i := range 10 {
			_, err := s.AccessToken(ctx, fmt.Sprint("at-", i))
			if (i < 7) != (err != nil) {
				t.Errorf("token %d after DeleteTokensBefore: %v", i, err)
			}
		}
		if d.Dialect != db.SQLite {
			return // PostgreSQL's plan for a table this small says nothing
		}
		var plan strings.Builder
		rows, err := d.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT id FROM issuer_access_tokens WHERE expiration < 1 ORDER BY expiration LIMIT 3`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(detail + "\n")
		}
		if !strings.Contains(plan.String(), "issuer_access_tokens_expiration") {
			t.Errorf("plan of a batch:\n%s\nwant it to use issuer_access_tokens_expiration", plan.String())
		}
	}, Migrations)
}
