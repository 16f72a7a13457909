package keystest

import (
	"sync"
	"testing"
	"time"
)

// Retention is the retention every manager built for the suite must have.
const Retention = time.Hour

// FakeClock runs with the wall clock, shifted by however much a test has
// advanced it. Shifting rather than freezing keeps it consistent with
// times a backend takes from elsewhere (Vault stamps key versions with its
// own clock).
type FakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the wall-clock time plus the offset.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

var clocks sync.Map // testing.TB → *FakeClock

// Clock returns test t's clock, the same on every call with the same t.
// The function given to RunManagerTests passes Clock(t).Now to the manager
// it builds; the suite advances it to step past the retention.
func Clock(t testing.TB) *FakeClock {
	c, loaded := clocks.LoadOrStore(t, &FakeClock{})
	if !loaded {
		t.Cleanup(func() { clocks.Delete(t) })
	}
	return c.(*FakeClock)
}
