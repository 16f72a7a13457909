package bench

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Loop runs op n times in all from conc workers, each with one call in
// flight (a closed loop, as go test benchmarks count work: b.N calls),
// and returns every call's latency, sorted, and the time the loop took.
// worker numbers the worker (0 ≤ worker < conc), for state of its own. The
// first error stops every worker and is returned.
func Loop(ctx context.Context, n, conc int, op func(ctx context.Context, worker int) error) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var left atomic.Int64
	left.Store(int64(n))
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			for ctx.Err() == nil && left.Add(-1) >= 0 {
				t0 := time.Now()
				if err := op(ctx, w); err != nil {
					cancel(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	return all, elapsed, context.Cause(ctx)
}
