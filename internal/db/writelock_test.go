package db_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cedula/cedula/internal/db"
)

// TestWriteLock: on SQLite, writers of one handle take turns on the write
// lock in the process — the next one is let in as soon as the last one is
// done — and a writer that cannot get it gives up with its context.
func TestWriteLock(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "lock.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	unlock, err := d.WriteLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		// InTx waits for the lock held above.
		got <- d.InTx(ctx, func(tx *sql.Tx) error { _, err := tx.ExecContext(ctx, `CREATE TABLE w (v INT)`); return err })
	}()
	short, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.WriteLock(short); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteLock with a canceled context while held: %v, want context.Canceled", err)
	}
	select {
	case err := <-got:
		t.Fatalf("InTx ran while the write lock was held: %v", err)
	default:
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("InTx after the lock's release: %v", err)
	}
}
