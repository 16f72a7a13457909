package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in log-linear buckets, as HDR histograms do:
// values below 2^(histPrecision+1) ns are exact; above, each power of two is
// split into 2^histPrecision buckets, so a reported quantile is within
// 1/2^histPrecision (0.8%) of a recorded value. Memory is fixed (about 35 KiB)
// whatever the number of samples. The zero value is ready to use; a
// Histogram is not safe for concurrent use.
type Histogram struct {
	counts   []uint64
	n        uint64
	sum      float64 // nanoseconds
	min, max time.Duration
}

const (
	histPrecision = 7
	histSub       = 1 << histPrecision
	// histMaxBits bounds bucketed values at 2^40 ns (about 18 minutes);
	// longer samples land in the last bucket, while Max stays exact.
	histMaxBits = 40
	histBuckets = histSub * (histMaxBits - histPrecision + 1)
)

// histIndex returns the bucket of v ≥ 0 nanoseconds.
func histIndex(v uint64) int {
	if v >= 1<<histMaxBits {
		v = 1<<histMaxBits - 1
	}
	shift := bits.Len64(v) - histPrecision - 1
	if shift < 0 {
		shift = 0
	}
	return histSub*shift + int(v>>shift)
}

// histUpper returns the largest value that falls in bucket i.
func histUpper(i int) uint64 {
	shift := i/histSub - 1
	if shift < 0 {
		shift = 0
	}
	top := uint64(i - histSub*shift)
	return (top+1)<<shift - 1
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	h.counts[histIndex(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest sample, 0 when empty.
func (h *Histogram) Min() time.Duration { return h.min }

// Max returns the largest sample, 0 when empty.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the average sample, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) by the nearest-rank method: the
// smallest recorded value v such that at least q of the samples are ≤ v, up
// to the bucket width. It returns 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := time.Duration(histUpper(i))
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
