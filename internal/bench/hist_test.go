package bench

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistIndexRoundTrip(t *testing.T) {
	// Every value falls in a bucket whose upper bound is ≥ the value and
	// within the promised relative error.
	for _, v := range []uint64{0, 1, 127, 128, 255, 256, 257, 1000, 4095, 4096, 1e6, 123456789, 1<<40 - 1} {
		i := histIndex(v)
		up := histUpper(i)
		if up < v {
			t.Errorf("histUpper(histIndex(%d)) = %d, want ≥ %d", v, up, v)
		}
		if rel := float64(up-v) / float64(max(v, 1)); rel > 1.0/histSub {
			t.Errorf("value %d: bucket upper %d, relative error %.4f, want ≤ %.4f", v, up, rel, 1.0/histSub)
		}
		if i < 0 || i >= histBuckets {
			t.Errorf("histIndex(%d) = %d, want in [0, %d)", v, i, histBuckets)
		}
	}
	// Buckets are monotonic.
	prev := -1
	for v := uint64(0); v < 1<<20; v += 7 {
		i := histIndex(v)
		if i < prev {
			t.Fatalf("histIndex(%d) = %d, below the previous %d", v, i, prev)
		}
		prev = i
	}
}

func TestHistogramQuantiles(t *testing.T) {
	// 1 µs … 100 000 µs, each once, in shuffled order.
	uniform := func() []time.Duration {
		var s []time.Duration
		for i := 1; i <= 100000; i++ {
			s = append(s, time.Duration(i)*time.Microsecond)
		}
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		return s
	}
	// 99 fast samples of 1 ms and one slow one of 2 s.
	outlier := func() []time.Duration {
		s := []time.Duration{2 * time.Second}
		for range 99 {
			s = append(s, time.Millisecond)
		}
		return s
	}
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"uniform p50", uniform(), 0.50, 50000 * time.Microsecond},
		{"uniform p95", uniform(), 0.95, 95000 * time.Microsecond},
		{"uniform p99", uniform(), 0.99, 99000 * time.Microsecond},
		{"uniform p100", uniform(), 1, 100000 * time.Microsecond},
		{"uniform p0", uniform(), 0, time.Microsecond},
		{"outlier p99", outlier(), 0.99, time.Millisecond},
		{"outlier max", outlier(), 1, 2 * time.Second},
		{"single", []time.Duration{42 * time.Millisecond}, 0.5, 42 * time.Millisecond},
		{"exact small values", []time.Duration{1, 2, 3, 4}, 0.5, 2},
		{"empty", nil, 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, d := range tc.samples {
				h.Record(d)
			}
			got := h.Quantile(tc.q)
			tol := time.Duration(float64(tc.want) / histSub)
			if got < tc.want || got > tc.want+tol {
				t.Errorf("Quantile(%v) = %v, want %v (+%v)", tc.q, got, tc.want, tol)
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Millisecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{})
	if m.Count() != all.Count() {
		t.Errorf("merged Count() = %d, want %d", m.Count(), all.Count())
	}
	for _, q := range []float64{0, 0.5, 0.95, 0.99, 1} {
		if got, want := m.Quantile(q), all.Quantile(q); got != want {
			t.Errorf("merged Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if got, want := m.Min(), time.Millisecond; got != want {
		t.Errorf("Min() = %v, want %v", got, want)
	}
	if got, want := m.Max(), time.Second; got != want {
		t.Errorf("Max() = %v, want %v", got, want)
	}
	if got, want := m.Mean(), 500500*time.Microsecond; got != want {
		t.Errorf("Mean() = %v, want %v", got, want)
	}
}
