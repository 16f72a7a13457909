package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Batcher group-commits small write transactions (on a Group): concurrent
// callers' work shares one database transaction, and so one fsync, while
// each caller still gets its own outcome. A piece of work that fails is
// undone alone: the batch runs again with a SAVEPOINT around each piece, the
// failing one is rolled back to its savepoint and its caller gets its error,
// and the others commit together. Do returns only after that commit: an
// acknowledged write is as durable as with a transaction of its own.
type Batcher struct {
	db *DB
	g  *Group[batchItem]
}

type batchItem struct {
	ctx context.Context
	fn  func(*sql.Tx) error
}

// ErrBatcherClosed is returned by Do after the batcher's context ends.
var ErrBatcherClosed = ErrClosed

// NewBatcher returns a batcher writing to d, whose goroutine ends with ctx.
func NewBatcher(ctx context.Context, d *DB, maxBatch int) *Batcher {
	b := &Batcher{db: d}
	b.g = NewGroup(ctx, maxBatch, b.run)
	return b
}

// Stats returns how many transactions the batcher committed (or tried) and
// how many pieces of work they carried.
func (b *Batcher) Stats() (batches, items uint64) { return b.g.Stats() }

// Do runs fn in a shared transaction and returns once the transaction that
// carried it has committed (nil) or fn's own error. fn must not commit or
// roll back, and must touch nothing but the transaction: when another piece
// of the batch fails, the batch runs again, and fn with it.
func (b *Batcher) Do(ctx context.Context, fn func(*sql.Tx) error) error {
	return b.g.Do(ctx, batchItem{ctx: ctx, fn: fn})
}

// run commits batch. Failures are rare (a unique key taken, a bad value),
// so the batch first runs without savepoints; only when a piece fails is the
// transaction rolled back and the batch run again with savepoints.
func (b *Batcher) run(batch []batchItem) []error {
	errs, err := b.try(batch, false)
	if err == errRetry {
		errs, err = b.try(batch, true)
	}
	if err != nil {
		errs = make([]error, len(batch))
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

var errRetry = errors.New("db: batch needs savepoints")

// try runs batch in one transaction. Without savepoints, the first failing
// piece aborts it with errRetry.
func (b *Batcher) try(batch []batchItem, savepoints bool) ([]error, error) {
	errs := make([]error, len(batch))
	unlock, err := b.db.WriteLock(context.Background())
	if err != nil {
		return nil, fmt.Errorf("db: batch begin: %w", err)
	}
	defer unlock()
	tx, err := b.db.BeginTx(context.Background(), nil)
	if err != nil {
		return nil, fmt.Errorf("db: batch begin: %w", err)
	}
	exec := func(q string) error {
		if _, err := tx.Exec(q); err != nil {
			tx.Rollback()
			return fmt.Errorf("db: batch %s: %w", q, err)
		}
		return nil
	}
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if !savepoints {
			if errs[i] = r.fn(tx); errs[i] != nil {
				tx.Rollback()
				return nil, errRetry
			}
			continue
		}
		if err := exec("SAVEPOINT batch_item"); err != nil {
			return nil, err
		}
		if errs[i] = r.fn(tx); errs[i] != nil {
			if err := exec("ROLLBACK TO SAVEPOINT batch_item"); err != nil {
				return nil, err
			}
		}
		if err := exec("RELEASE SAVEPOINT batch_item"); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("db: batch commit: %w", err)
	}
	return errs, nil
}
