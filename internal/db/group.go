package db

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Group collects items that concurrent callers submit and hands them to a
// flush function in groups, so that one write to the database — one
// statement, one transaction, one fsync — serves many callers. Each caller
// waits for its own item's outcome.
//
// Groups form naturally: while one flush waits for the disk, new items queue
// and the next flush takes them all (up to max). When the previous group
// had more than one item — a sign of concurrent load — the next one also
// waits up to GatherWindow until it has as many items as that one: the
// callers of a group come back at about the same time, and a group that
// waited longer than for them would only add their wait to its latency.
// A lone writer never waits.
type Group[T any] struct {
	// busy is held by whoever runs flush: the loop, or a lone caller
	// flushing its own item (Do).
	busy    sync.Mutex
	last    atomic.Int64 // items of the last flush
	reqs    chan groupReq[T]
	closed  chan struct{} // closed when the loop has ended
	max     int
	flush   func(items []T) []error
	batches atomic.Uint64
	items   atomic.Uint64
}

type groupReq[T any] struct {
	item T
	done chan error
}

// GatherWindow bounds the extra wait of a group under load.
const GatherWindow = time.Millisecond

// ErrClosed is returned for items submitted after the group's context ended.
var ErrClosed = errors.New("db: group writer closed")

// NewGroup starts a group writer; flush receives at most max items and
// returns one error (or nil) per item, in order. It runs on one goroutine,
// which ends with ctx.
func NewGroup[T any](ctx context.Context, max int, flush func(items []T) []error) *Group[T] {
	if max <= 0 {
		max = 256
	}
	g := &Group[T]{reqs: make(chan groupReq[T], max), closed: make(chan struct{}), max: max, flush: flush}
	go g.loop(ctx)
	return g
}

// Do submits item and waits until its group has been flushed. It waits even
// when ctx ends meanwhile: the item may already be on its way to the
// database, and the caller must know whether it was written.
func (g *Group[T]) Do(ctx context.Context, item T) error {
	// A lone caller — the last flush carried one item, nothing is queued
	// and no flush runs — flushes its item itself, sparing the two
	// goroutine switches of a trip through the loop. Under concurrent
	// load (the last flush carried more) items go to the loop, which
	// groups them.
	if g.last.Load() <= 1 && len(g.reqs) == 0 && g.busy.TryLock() {
		select {
		case <-g.closed:
			g.busy.Unlock()
			return ErrClosed
		default:
		}
		if len(g.reqs) == 0 {
			g.batches.Add(1)
			g.items.Add(1)
			err := g.flush([]T{item})[0]
			g.busy.Unlock()
			return err
		}
		g.busy.Unlock()
	}
	r := groupReq[T]{item: item, done: make(chan error, 1)}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.closed:
		return ErrClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-g.closed:
		// The loop ended; it answers everything it took before that, so
		// an item without an answer now was never written.
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// Stats returns how many flushes ran and how many items they carried.
func (g *Group[T]) Stats() (flushes, items uint64) { return g.batches.Load(), g.items.Load() }

func (g *Group[T]) loop(ctx context.Context) {
	defer close(g.closed)
	batch := make([]groupReq[T], 0, g.max)
	items := make([]T, 0, g.max)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			for {
				select {
				case r := <-g.reqs:
					r.done <- ErrClosed
				default:
					return
				}
			}
		case r := <-g.reqs:
			batch = append(batch, r)
		}
		// Wait for a lone caller's flush to end before gathering: what
		// queued meanwhile joins this group.
		g.busy.Lock()
	fill:
		for len(batch) < g.max {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		last := int(g.last.Load())
		if last > 1 && len(batch) < min(last, g.max) {
			timer.Reset(GatherWindow)
		gather:
			for len(batch) < min(last, g.max) {
				select {
				case r := <-g.reqs:
					batch = append(batch, r)
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
		}
		items = items[:0]
		for _, r := range batch {
			items = append(items, r.item)
		}
		g.last.Store(int64(len(batch)))
		g.batches.Add(1)
		g.items.Add(uint64(len(batch)))
		errs := g.flush(items)
		g.busy.Unlock()
		for i, r := range batch {
			r.done <- errs[i]
		}
	}
}
