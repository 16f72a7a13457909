package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Batcher group-commits small write transactions: concurrent callers' work
// shares one database transaction, and so one fsync, while each caller still
// gets its own outcome. Every piece of work runs inside its own SAVEPOINT:
// one that fails is rolled back alone and its caller gets its error; the
// others commit together, and Do returns only after that commit — an
// acknowledged write is as durable as with a transaction of its own.
//
// Batches form naturally: while one commit waits for the disk, new work
// queues, and the next batch takes all of it (up to MaxBatch).
type Batcher struct {
	db       *DB
	maxBatch int
	reqs     chan *batchReq
	batches  atomic.Uint64
	items    atomic.Uint64
}

// Stats returns how many transactions the batcher committed (or tried) and
// how many pieces of work they carried.
func (b *Batcher) Stats() (batches, items uint64) { return b.batches.Load(), b.items.Load() }

// gatherWindow is how long a batch waits for more work when the previous
// batch carried more than one piece — a sign of concurrent load — so that
// one fsync serves more writers. Alone, a writer never waits.
const gatherWindow = 250 * time.Microsecond

type batchReq struct {
	ctx  context.Context
	fn   func(*sql.Tx) error
	done chan error
}

// ErrBatcherClosed is returned by Do after the batcher's context ends.
var ErrBatcherClosed = errors.New("db: batcher closed")

// NewBatcher returns a batcher writing to d. Its goroutine starts on first
// use and ends when ctx ends.
func NewBatcher(ctx context.Context, d *DB, maxBatch int) *Batcher {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	b := &Batcher{db: d, maxBatch: maxBatch, reqs: make(chan *batchReq, maxBatch)}
	go b.loop(ctx)
	return b
}

// Do runs fn in a shared transaction and returns once the transaction that
// carried it has committed (nil) or fn's own error. fn must not commit or
// roll back, and must touch nothing but the transaction: when another piece
// of the batch fails, the batch runs again, and fn with it.
func (b *Batcher) Do(ctx context.Context, fn func(*sql.Tx) error) error {
	r := &batchReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Wait for the outcome even if ctx ends: the work may already be in a
	// transaction, and the caller must know whether it committed.
	return <-r.done
}

func (b *Batcher) loop(ctx context.Context) {
	batch := make([]*batchReq, 0, b.maxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	last := 0
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			b.drainClosed()
			return
		case r := <-b.reqs:
			batch = append(batch, r)
		}
	fill:
		for len(batch) < b.maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if last > 1 && len(batch) < b.maxBatch {
			timer.Reset(gatherWindow)
		gather:
			for len(batch) < b.maxBatch {
				select {
				case r := <-b.reqs:
					batch = append(batch, r)
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
		}
		last = len(batch)
		b.batches.Add(1)
		b.items.Add(uint64(len(batch)))
		b.run(batch)
	}
}

func (b *Batcher) drainClosed() {
	for {
		select {
		case r := <-b.reqs:
			r.done <- ErrBatcherClosed
		default:
			return
		}
	}
}

// run commits batch. Failures are rare (a unique key taken, a bad value),
// so the batch first runs without savepoints; only when a piece fails is the
// transaction rolled back and the batch run again with a savepoint around
// each piece, so that the failing one is undone alone.
func (b *Batcher) run(batch []*batchReq) {
	errs, err := b.try(batch, false)
	if err == errRetry {
		errs, err = b.try(batch, true)
	}
	for i, r := range batch {
		if err != nil {
			r.done <- err
		} else {
			r.done <- errs[i]
		}
	}
}

var errRetry = errors.New("db: batch needs savepoints")

// try runs batch in one transaction. Without savepoints, the first failing
// piece aborts it with errRetry.
func (b *Batcher) try(batch []*batchReq, savepoints bool) ([]error, error) {
	errs := make([]error, len(batch))
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
