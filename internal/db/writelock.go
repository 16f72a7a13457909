package db

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SQLite has one writer at a time. A writer that finds the database
// locked sleeps in SQLite's busy handler — 1, 2, 5, 10, 15, 20, 25 ms … —
// and tries again, whether or not the lock was released meanwhile: with
// the token group writer, the audit sequencer, the indexer and the rest of
// a process all writing, a group that came a moment after another writer
// waited tens of milliseconds more than that writer held the lock, which
// made the token endpoint's p99 several times its median. WriteLock takes
// the lock in the process first, on a channel, where the next writer is
// woken the moment the last one is done, and SQLite never sees two writers
// of one process at once. (Writers of other processes or handles on the
// same file still meet in SQLite's busy handler, as before.)

// WriteLockTimeout bounds the wait for WriteLock, as busy_timeout bounds
// SQLite's.
const WriteLockTimeout = 10 * time.Second

// ErrWriteLockTimeout is returned when WriteLock waited WriteLockTimeout.
var ErrWriteLockTimeout = errors.New("db: the database stayed locked for writing")

// WriteLock takes this handle's write lock on SQLite — InTx takes it; a
// caller that begins a write transaction itself (BeginTx) or writes in
// autocommit on a hot path takes it first — and returns its release; on
// PostgreSQL, whose writers lock rows, it does nothing. Not reentrant:
// never call it, nor InTx, while holding it.
func (d *DB) WriteLock(ctx context.Context) (unlock func(), err error) {
	if d.writes == nil {
		return func() {}, nil
	}
	select {
	case d.writes <- struct{}{}:
		return d.unlockWrites, nil
	default:
	}
	t := time.NewTimer(WriteLockTimeout)
	defer t.Stop()
	select {
	case d.writes <- struct{}{}:
		return d.unlockWrites, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("db: write lock: %w", ctx.Err())
	case <-t.C:
		return nil, ErrWriteLockTimeout
	}
}

func (d *DB) unlockWrites() { <-d.writes }
