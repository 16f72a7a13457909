package rules

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"iter"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Citizen is one citizen as Select reads them: an opaque ID and values.
type Citizen struct {
	ID     string
	Values *Values
}

// Query is a segment to select.
type Query struct {
	Rule *Rule
	// Score, if set, orders the matches, highest first; it is used only
	// for that and never returned.
	Score *Score
	// Limit, if positive, keeps only that many matches: the highest scores,
	// or without a score the first in stream order.
	Limit int
	// Now is the day of the run (its date in its location).
	Now time.Time
	// Workers evaluating at once; 0 means GOMAXPROCS.
	Workers int
}

// Result is what Select found.
type Result struct {
	// IDs of the matching citizens, highest score first, then in stream
	// order.
	IDs []string
	// Evaluated citizens; Matched of them were in the segment (before
	// Limit); Undecided were not taken because the rule or score could not
	// be evaluated for them (an attribute unknown, a cost limit).
	Evaluated, Matched, Undecided int
}

const batchLen = 512

type batch struct {
	seq      int // stream position of the first citizen
	citizens []Citizen
}

// Select evaluates q over citizens on all cores and returns the IDs of
// those that match. Each Citizen's Values must stay unchanged until Select
// returns. It stops early, with ctx's error, when ctx is done.
func Select(ctx context.Context, q Query, citizens iter.Seq[Citizen]) (Result, error) {
	if q.Rule == nil {
		return Result{}, errors.New("journeys: select: no rule")
	}
	if q.Score != nil && q.Score.cat != q.Rule.cat {
		return Result{}, errors.New("journeys: select: rule and score of different catalogues")
	}
	workers := q.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan batch, 2*workers)
	free := sync.Pool{New: func() any { return make([]Citizen, 0, batchLen) }}
	parts := make([]part, workers)
	var wg sync.WaitGroup
	for w := range parts {
		wg.Go(func() {
			parts[w] = work(ctx, q, batches, &free)
		})
	}
	var err error
	seq := 0
	cur := free.Get().([]Citizen)[:0]
	send := func() bool {
		select {
		case batches <- batch{seq: seq - len(cur), citizens: cur}:
			cur = free.Get().([]Citizen)[:0]
			return true
		case <-ctx.Done():
			return false
		}
	}
	for c := range citizens {
		if c.Values == nil || c.Values.cat != q.Rule.cat {
			err = errors.New("journeys: select: citizen values missing or of another catalogue")
			break
		}
		cur = append(cur, c)
		seq++
		if len(cur) == batchLen && !send() {
			break
		}
	}
	if err == nil && len(cur) > 0 {
		send()
	}
	close(batches)
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return Result{}, err
	}
	return merge(parts, q.Limit), nil
}

// part is one worker's share of the result.
type part struct {
	top                           matches
	evaluated, matched, undecided int
}

type match struct {
	score float64
	seq   int
	id    string
}

// better orders matches: higher score, then earlier in the stream.
func better(a, b match) int {
	if c := cmp.Compare(b.score, a.score); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// matches is a heap whose root is the worst match kept.
type matches []match

func (m matches) Len() int           { return len(m) }
func (m matches) Less(i, j int) bool { return better(m[i], m[j]) > 0 }
func (m matches) Swap(i, j int)      { m[i], m[j] = m[j], m[i] }
func (m *matches) Push(x any)        { *m = append(*m, x.(match)) }
func (m *matches) Pop() any {
	old := *m
	x := old[len(old)-1]
	*m = old[:len(old)-1]
	return x
}

// keep adds x, keeping at most limit (all when limit <= 0).
func (m *matches) keep(x match, limit int) {
	switch {
	case limit <= 0:
		*m = append(*m, x)
	case len(*m) < limit:
		heap.Push(m, x)
	case better(x, (*m)[0]) < 0:
		(*m)[0] = x
		heap.Fix(m, 0)
	}
}

func work(ctx context.Context, q Query, batches <-chan batch, free *sync.Pool) part {
	var p part
	var score *program
	if q.Score != nil {
		score = &q.Score.program
	}
	a := newActivation(q.Now, &q.Rule.program, score)
	for b := range batches {
		if ctx.Err() != nil {
			continue // drain
		}
		for i, c := range b.citizens {
			p.evaluated++
			a.v = c.Values
			ok, err := q.Rule.match(a)
			if err != nil {
				p.undecided++
				continue
			}
			if !ok {
				continue
			}
			x := match{seq: b.seq + i, id: c.ID}
			if q.Score != nil {
				if x.score, err = q.Score.value(a); err != nil || math.IsNaN(x.score) {
					p.undecided++
					continue
				}
			}
			p.matched++
			p.top.keep(x, q.Limit)
		}
		clear(b.citizens)
		free.Put(b.citizens[:0])
	}
	return p
}

func merge(parts []part, limit int) Result {
	var r Result
	var all matches
	for _, p := range parts {
		r.Evaluated += p.evaluated
		r.Matched += p.matched
		r.Undecided += p.undecided
		all = append(all, p.top...)
	}
	slices.SortFunc(all, better)
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	r.IDs = make([]string, len(all))
	for i, m := range all {
		r.IDs[i] = m.id
	}
	return r
}
