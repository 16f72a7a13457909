package db

import (
	"context"
	"time"
)

// SQLite copies the pages its write-ahead log holds back into the database
// file in checkpoints. By default (wal_autocheckpoint) the commit that
// takes the log past 1000 pages runs one before it returns: it copies the
// pages and syncs the file while its callers — for the group writers, a
// whole group, and every group queued behind it — wait. Open turns that
// off and checkpoints from a goroutine of its own instead, every
// CheckpointInterval, in PASSIVE mode: it never waits for a lock, never
// holds the write lock, and writers carry on while it copies; the log is
// reused from its start once a checkpoint has copied all of it and no
// reader still needs it.
//
// Durability is unchanged: a commit is durable once its frames are synced
// in the log (synchronous=FULL); checkpoints only bound the log's size.

// CheckpointInterval is how often the checkpointer runs: at the token
// endpoint's pace, a few hundred pages' worth.
const CheckpointInterval = 50 * time.Millisecond

// startCheckpoints starts the checkpointer; d.Close stops it.
func (d *DB) startCheckpoints() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	d.stopCheckpoints = func() {
		cancel()
		<-done
	}
	go func() {
		defer close(done)
		t := time.NewTicker(CheckpointInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Errors (the database busy, closing) are for the next tick.
			_, _, _ = d.Checkpoint(ctx)
		}
	}()
}

// Checkpoint runs one PASSIVE checkpoint on SQLite and returns the pages
// the log held and how many of them are now in the database file; on
// PostgreSQL it does nothing.
func (d *DB) Checkpoint(ctx context.Context) (logged, copied int, err error) {
	if d.Dialect != SQLite {
		return 0, 0, nil
	}
	var busy int
	err = d.QueryRowCached(ctx, nil, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logged, &copied)
	return logged, copied, err
}
