package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures Run.
type Options struct {
	// Name labels progress lines and the result (e.g. "token").
	Name string
	// Concurrency is the number of workers, each with one call in flight.
	Concurrency int
	// Duration is the measured window, after the warm-up.
	Duration time.Duration
	// Warmup runs the load unmeasured first, to fill connection pools and
	// caches.
	Warmup time.Duration
	// Progress, when not nil, receives one line a second while Run runs.
	Progress io.Writer
}

func (o Options) validate() error {
	var errs []error
	if o.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d: want at least 1", o.Concurrency))
	}
	if o.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration %v: want more than 0", o.Duration))
	}
	if o.Warmup < 0 {
		errs = append(errs, fmt.Errorf("warm-up %v: want 0 or more", o.Warmup))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// Result is what Run measured in its window.
type Result struct {
	Name        string
	Concurrency int
	// Elapsed is the measured window: Options.Duration, or less when the
	// context ended early.
	Elapsed time.Duration
	// Ops counts the calls that succeeded, Errors those that failed;
	// both count calls that returned inside the window.
	Ops, Errors int64
	// FirstError is the message of the first failure, to show what went
	// wrong without flooding the output.
	FirstError string
	// Throughput is successful calls per second over Elapsed.
	Throughput float64
	// Latencies of the successful calls.
	Min, Mean, P50, P95, P99, Max time.Duration
}

// Run calls op from opts.Concurrency workers in a closed loop for
// opts.Warmup and then opts.Duration, and returns what happened in that
// second window: every call that returned inside it counts, by its outcome,
// and a successful one's latency is recorded. The context given to op ends
// when the window does; calls returning after that are not counted, nor are
// errors caused by ctx ending. Run returns once every call has returned.
//
// When ctx ends early, Run returns the result so far with ctx's error.
func Run(ctx context.Context, opts Options, op func(ctx context.Context) error) (Result, error) {
	if err := opts.validate(); err != nil {
		return Result{}, err
	}
	opCtx, stop := context.WithCancel(ctx)
	defer stop()

	start := time.Now()
	from := start.Add(opts.Warmup)
	to := from.Add(opts.Duration)
	timer := time.AfterFunc(time.Until(to), stop)
	defer timer.Stop()

	var (
		done, failed atomic.Int64 // every call, for progress
		firstErr     error
		errOnce      sync.Once
		wg           sync.WaitGroup
	)
	workers := make([]worker, opts.Concurrency)
	for i := range workers {
		w := &workers[i]
		wg.Go(func() {
			for opCtx.Err() == nil {
				t := time.Now()
				err := op(opCtx)
				end := time.Now()
				if err != nil && opCtx.Err() != nil {
					return // stopped, not failed
				}
				if err != nil {
					failed.Add(1)
				} else {
					done.Add(1)
				}
				if end.Before(from) {
					continue // warm-up
				}
				if !end.Before(to) {
					return
				}
				if err != nil {
					w.errors++
					errOnce.Do(func() { firstErr = err })
					continue
				}
				w.hist.Record(end.Sub(t))
			}
		})
	}

	var progressDone chan struct{}
	if opts.Progress != nil {
		progressDone = make(chan struct{})
		go func() {
			defer close(progressDone)
			progress(opCtx, opts, start, from, &done, &failed)
		}()
	}
	wg.Wait()
	stop()
	if progressDone != nil {
		<-progressDone
	}

	end := time.Now()
	if end.After(to) {
		end = to
	}
	res := Result{Name: opts.Name, Concurrency: opts.Concurrency, Elapsed: max(end.Sub(from), 0)}
	var h Histogram
	for i := range workers {
		h.Merge(&workers[i].hist)
		res.Errors += workers[i].errors
	}
	res.Ops = int64(h.Count())
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	if res.Elapsed > 0 {
		res.Throughput = float64(res.Ops) / res.Elapsed.Seconds()
	}
	res.Min, res.Mean, res.Max = h.Min(), h.Mean(), h.Max()
	res.P50, res.P95, res.P99 = h.Quantile(0.50), h.Quantile(0.95), h.Quantile(0.99)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("bench: %s stopped early: %w", opts.Name, err)
	}
	return res, nil
}

// worker is one worker's tally, merged when the run ends. Padding keeps
// workers' hot fields off each other's cache lines.
type worker struct {
	hist   Histogram
	errors int64
	_      [64]byte
}

// progressInterval is how often progress writes; tests shorten it.
var progressInterval = time.Second

// progress writes a line a second until ctx ends: calls per second over the
// last second and the total so far.
func progress(ctx context.Context, opts Options, start, from time.Time, done, failed *atomic.Int64) {
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	var lastDone, lastFailed int64
	last := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			d, f := done.Load(), failed.Load()
			rate := float64(d-lastDone) / now.Sub(last).Seconds()
			phase := "warm-up"
			if !now.Before(from) {
				phase = fmt.Sprintf("%3.0f%%", 100*min(now.Sub(from).Seconds()/opts.Duration.Seconds(), 1))
			}
			fmt.Fprintf(opts.Progress, "%-10s %7s  %5.0fs  %9.0f ops/s  %6d err/s\n",
				opts.Name, phase, now.Sub(start).Seconds(), rate, f-lastFailed)
			lastDone, lastFailed, last = d, f, now
		}
	}
}
