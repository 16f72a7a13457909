package bench

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunSleepingOp(t *testing.T) {
	const sleep = 5 * time.Millisecond
	const window = 300 * time.Millisecond
	for _, conc := range []int{1, 4, 16} {
		t.Run("", func(t *testing.T) {
			var inflight, peak atomic.Int64
			op := func(ctx context.Context) error {
				n := inflight.Add(1)
				defer inflight.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(sleep)
				return nil
			}
			res, err := Run(t.Context(), Options{Name: "sleep", Concurrency: conc, Duration: window, Warmup: 50 * time.Millisecond}, op)
			if err != nil {
				t.Fatal(err)
			}
			// Each call takes at least `sleep`, so a worker finishes at
			// most window/sleep+1 calls in the window: a hard ceiling.
			// The floor is loose: a tenth of the ideal, for busy machines.
			ideal := int64(conc) * int64(window/sleep)
			if ceiling := ideal + int64(conc); res.Ops > ceiling {
				t.Errorf("conc %d: got %d ops, want at most %d", conc, res.Ops, ceiling)
			}
			if floor := ideal / 10; res.Ops < floor {
				t.Errorf("conc %d: got %d ops, want at least %d", conc, res.Ops, floor)
			}
			if got, want := res.Throughput, float64(res.Ops)/res.Elapsed.Seconds(); got != want {
				t.Errorf("Throughput = %v, want Ops/Elapsed = %v", got, want)
			}
			if got, want := res.Elapsed, window; got != want {
				t.Errorf("Elapsed = %v, want %v", got, want)
			}
			if res.Min < sleep {
				t.Errorf("Min = %v, want ≥ %v (every call sleeps)", res.Min, sleep)
			}
			if !(res.Min <= res.P50 && res.P50 <= res.P95 && res.P95 <= res.P99 && res.P99 <= res.Max) {
				t.Errorf("got min %v p50 %v p95 %v p99 %v max %v, want them in order", res.Min, res.P50, res.P95, res.P99, res.Max)
			}
			if res.Errors != 0 || res.Concurrency != conc || res.Name != "sleep" {
				t.Errorf("got errors %d, concurrency %d, name %q; want 0, %d, %q", res.Errors, res.Concurrency, res.Name, conc, "sleep")
			}
			if p := peak.Load(); p > int64(conc) || p < 1 {
				t.Errorf("got %d calls in flight at once, want between 1 and %d", p, conc)
			}
		})
	}
}

func TestRunCountsErrors(t *testing.T) {
	const conc = 4
	var calls atomic.Int64
	op := func(ctx context.Context) error {
		n := calls.Add(1)
		time.Sleep(time.Millisecond)
		if n%2 == 1 {
			return errors.New("odd call")
		}
		return nil
	}
	res, err := Run(t.Context(), Options{Concurrency: conc, Duration: 200 * time.Millisecond}, op)
	if err != nil {
		t.Fatal(err)
	}
	// Every call is counted except at most one per worker still running
	// when the window closed.
	n := calls.Load()
	if got := res.Ops + res.Errors; got > n || got < n-conc {
		t.Errorf("got %d ops + %d errors = %d, want between %d and %d calls", res.Ops, res.Errors, got, n-conc, n)
	}
	if d := res.Ops - res.Errors; d > conc+1 || d < -(conc+1) {
		t.Errorf("got %d ops and %d errors, want about half each", res.Ops, res.Errors)
	}
	if got, want := res.FirstError, "odd call"; got != want {
		t.Errorf("FirstError = %q, want %q", got, want)
	}
}

func TestRunIgnoresWarmup(t *testing.T) {
	// Each worker's first call fails at once, inside the warm-up; the
	// window then sees only successes.
	var calls atomic.Int64
	op := func(ctx context.Context) error {
		if calls.Add(1) <= 2 {
			return errors.New("cold")
		}
		time.Sleep(time.Millisecond)
		return nil
	}
	res, err := Run(t.Context(), Options{Concurrency: 2, Duration: 100 * time.Millisecond, Warmup: 300 * time.Millisecond}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.FirstError != "" {
		t.Errorf("got %d errors (%q), want 0: warm-up failures must not count", res.Errors, res.FirstError)
	}
	if res.Ops == 0 {
		t.Errorf("got 0 ops, want some")
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var calls atomic.Int64
	op := func(ctx context.Context) error {
		if calls.Add(1) == 20 {
			cancel()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
			return nil
		}
	}
	// An hour-long window: the test returns only if Run stops early.
	res, err := Run(ctx, Options{Concurrency: 3, Duration: time.Hour}, op)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got error %v, want context.Canceled", err)
	}
	if res.Errors != 0 {
		t.Errorf("got %d errors, want 0: calls cut short by the context are not failures", res.Errors)
	}
	if res.Ops > 20 || res.Elapsed >= time.Hour {
		t.Errorf("got %d ops over %v, want at most 20 over less than the window", res.Ops, res.Elapsed)
	}
}

func TestRunProgress(t *testing.T) {
	defer func(d time.Duration) { progressInterval = d }(progressInterval)
	progressInterval = 10 * time.Millisecond
	var b strings.Builder
	op := func(ctx context.Context) error { time.Sleep(time.Millisecond); return nil }
	if _, err := Run(t.Context(), Options{Name: "tick", Concurrency: 1, Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond, Progress: &b}, op); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("got %d progress lines, want several:\n%s", len(lines), b.String())
	}
	for _, want := range []string{"tick", "warm-up", "ops/s", "err/s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("progress %q, want it to mention %q", b.String(), want)
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	op := func(context.Context) error { return nil }
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no workers", Options{Duration: time.Second}, "concurrency 0"},
		{"no window", Options{Concurrency: 1}, "duration 0s"},
		{"negative warm-up", Options{Concurrency: 1, Duration: time.Second, Warmup: -time.Second}, "warm-up -1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(t.Context(), tc.opts, op)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
