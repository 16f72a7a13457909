package bench_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/bench"
)

func TestLoopRunsEachCallOnce(t *testing.T) {
	var calls atomic.Int64
	var outside atomic.Int64
	lat, elapsed, err := bench.Loop(t.Context(), 1000, 4, func(_ context.Context, w int) error {
		calls.Add(1)
		if w < 0 || w >= 4 {
			outside.Add(1)
		}
		return nil
	})
	if err != nil || calls.Load() != 1000 || len(lat) != 1000 || elapsed <= 0 {
		t.Fatalf("got %d calls, %d latencies, %v, %v; want 1000 and 1000", calls.Load(), len(lat), elapsed, err)
	}
	for i := 1; i < len(lat); i++ {
		if lat[i] < lat[i-1] {
			t.Fatal("latencies not sorted")
		}
	}
	if outside.Load() > 0 {
		t.Errorf("%d calls from a worker numbered outside 0..3", outside.Load())
	}
}

func TestLoopStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	_, _, err := bench.Loop(t.Context(), 1_000_000, 2, func(ctx context.Context, _ int) error {
		if calls.Add(1) == 10 {
			return boom
		}
		time.Sleep(time.Microsecond)
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() > 1000 {
		t.Errorf("got %v after %d calls, want boom soon after the 10th", err, calls.Load())
	}
}
