package db_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
)

// TestPreparedStatements: a query is prepared once per database, whether
// first asked for inside a transaction (ExecCached, prepared in the
// background) or outside (Prepared), and under concurrent use every
// caller gets a working statement.
func TestPreparedStatements(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.ExecContext(ctx, `CREATE TABLE prepared_test (n BIGINT)`); err != nil {
			t.Fatal(err)
		}
		const q = `SELECT count(*) FROM prepared_test WHERE n >= $1`
		if d.Cached(q) != nil {
			t.Fatal("Cached before any use: got a statement")
		}
		st1, err := d.Prepared(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := d.Prepared(ctx, q)
		if err != nil || st2 != st1 || d.Cached(q) != st1 {
			t.Fatalf("Prepared twice: %p, %p (%v), Cached %p; want the same statement", st1, st2, err, d.Cached(q))
		}
		// Concurrent first uses of another query, inside and outside
		// transactions.
		const ins = `INSERT INTO prepared_test (n) VALUES ($1)`
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 20 {
			wg.Go(func() {
				errs <- d.InTx(ctx, func(tx *sql.Tx) error { _, err := d.ExecCached(ctx, tx, ins, i); return err })
			})
			wg.Go(func() {
				st, err := d.Prepared(ctx, q)
				if err == nil {
					var n int
					err = st.QueryRowContext(ctx, 0).Scan(&n)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := st1.QueryRowContext(ctx, 0).Scan(&n); err != nil || n != 20 {
			t.Errorf("rows: %d, %v; want 20", n, err)
		}
	})
}
