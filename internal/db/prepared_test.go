package db_test

import (
	"context"
	"database/sql"
	"path/filepath"
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

// TestCachedInForeignTransaction: a transaction of another handle on the
// same database may reach a store's Cached helpers (an audit entry
// appended in a change's own transaction); the statement prepared on the
// store's handle cannot run in it, so the query runs unprepared there.
// Without a transaction they prepare on their own handle.
func TestCachedInForeignTransaction(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "foreign.db")
	open := func() *db.DB {
		d, err := db.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	mine, other := open(), open()
	if _, err := mine.ExecContext(ctx, `CREATE TABLE foreign_test (n BIGINT)`); err != nil {
		t.Fatal(err)
	}
	const ins = `INSERT INTO foreign_test (n) VALUES ($1)`
	const count = `SELECT count(*) FROM foreign_test WHERE n >= $1`
	if _, err := mine.ExecCached(ctx, nil, ins, 1); err != nil || mine.Cached(ins) == nil {
		t.Fatalf("ExecCached without a transaction: %v, prepared %v; want it run and prepared", err, mine.Cached(ins) != nil)
	}
	if _, err := mine.QueryCached(ctx, nil, count, 0); err != nil {
		t.Fatal(err)
	}
	err := other.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := mine.ExecCached(ctx, tx, ins, 2); err != nil {
			return err
		}
		rows, err := mine.QueryCached(ctx, tx, count, 0)
		if err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		t.Fatalf("Cached helpers in another handle's transaction: %v", err)
	}
	var n int
	if err := mine.QueryRowCached(ctx, nil, count, 0).Scan(&n); err != nil || n != 2 {
		t.Errorf("rows: %d (%v), want 2", n, err)
	}
}
