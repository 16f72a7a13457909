package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
)

var batchSchema = []db.Migration{{Room: "test", Version: 1,
	SQLite:   `CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`,
	Postgres: `CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`}}

// TestBatcher: many concurrent writers, every tenth failing on a duplicate
// key; each caller gets its own outcome and exactly the successful rows
// are stored.
func TestBatcher(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		b := db.NewBatcher(ctx, d, 32)
		if _, err := d.Exec(`INSERT INTO items (id, v) VALUES (0, 'seed')`); err != nil {
			t.Fatal(err)
		}
		const n = 400
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := 1; i <= n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				id := i
				if i%10 == 0 {
					id = 0 // duplicate: must fail alone
				}
				errs[i-1] = b.Do(ctx, func(tx *sql.Tx) error {
					_, err := tx.Exec(`INSERT INTO items (id, v) VALUES ($1, $2)`, id, fmt.Sprint("v", i))
					return err
				})
			}(i)
		}
		wg.Wait()
		for i, err := range errs {
			if failing := (i+1)%10 == 0; failing != (err != nil) {
				t.Fatalf("item %d: err = %v, want failure %v", i+1, err, failing)
			}
		}
		var count int
		d.QueryRow(`SELECT count(*) FROM items`).Scan(&count)
		if want := 1 + n - n/10; count != want {
			t.Errorf("rows = %d, want %d", count, want)
		}
	}, batchSchema)
}

func TestBatcherClosed(t *testing.T) {
	d := dbtest.SQLite(t, batchSchema)
	ctx, cancel := context.WithCancel(context.Background())
	b := db.NewBatcher(ctx, d, 4)
	cancel()
	err := b.Do(context.Background(), func(*sql.Tx) error { return nil })
	if err != nil && !errors.Is(err, db.ErrBatcherClosed) {
		t.Errorf("got %v, want nil or ErrBatcherClosed", err)
	}
}

// TestGroupCloseNeverHangs: Do racing with the group's end returns
// (ErrClosed or the item's outcome) instead of waiting forever.
func TestGroupCloseNeverHangs(t *testing.T) {
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		g := db.NewGroup(ctx, 4, func(items []int) []error { return make([]error, len(items)) })
		var wg sync.WaitGroup
		for j := 0; j < 8; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := g.Do(context.Background(), j); err != nil && !errors.Is(err, db.ErrClosed) {
					t.Errorf("Do: got %v, want nil or ErrClosed", err)
				}
			}()
		}
		cancel()
		wg.Wait() // a hang here is the bug
	}
}
