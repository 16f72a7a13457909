package db_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/db"
)

// TestCheckpointsInBackground: on SQLite no commit checkpoints the WAL
// itself (wal_autocheckpoint is off on every connection); the database's
// own goroutine copies the log into the database file while writers carry
// on.
func TestCheckpointsInBackground(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ckpt.db")
	d, err := db.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var auto int
	if err := d.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d (%v), want 0: commits must not checkpoint", auto, err)
	}
	if _, err := d.ExecContext(ctx, `CREATE TABLE ckpt (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, path)
	for range 200 {
		if _, err := d.ExecContext(ctx, `INSERT INTO ckpt (v) VALUES ($1)`, strings.Repeat("x", 4000)); err != nil {
			t.Fatal(err)
		}
	}
	// Only a checkpoint writes pages into the database file; the
	// checkpointer's next ticks must do it.
	for fileSize(t, path) < before+100*4096 {
		time.Sleep(db.CheckpointInterval)
	}
	logged, copied, err := d.Checkpoint(ctx)
	if err != nil || copied != logged {
		t.Errorf("Checkpoint: %d of %d pages copied (%v), want all", copied, logged, err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
