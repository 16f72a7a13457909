package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
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
	once     sync.Once
}

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
// roll back, and must be safe to run again: it is never retried, but it may
// run after ctx has ended if it was already queued.
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

func (b *Batcher) run(batch []*batchReq) {
	errs := make([]error, len(batch))
	fail := func(err error) {
		for _, r := range batch {
			r.done <- err
		}
	}
	tx, err := b.db.BeginTx(context.Background(), nil)
	if err != nil {
		fail(fmt.Errorf("db: batch begin: %w", err))
		return
	}
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.Exec("SAVEPOINT batch_item"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("db: batch savepoint: %w", err))
			return
		}
		if errs[i] = r.fn(tx); errs[i] != nil {
			if _, err := tx.Exec("ROLLBACK TO SAVEPOINT batch_item"); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("db: batch rollback to savepoint: %w", err))
				return
			}
		}
		if _, err := tx.Exec("RELEASE SAVEPOINT batch_item"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("db: batch release savepoint: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("db: batch commit: %w", err))
		return
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}
