package keystest

import (
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/testutil"
)

// Retention is the retention every manager built for the suite must have.
const Retention = time.Hour

var clocks sync.Map // testing.TB → *testutil.Clock

// Clock returns test t's clock, the same on every call with the same t:
// the wall clock, shifted by however much the test has moved it. Shifting
// rather than freezing keeps it consistent with times a backend takes from
// elsewhere (Vault stamps key versions with its own clock).
// The function given to RunManagerTests passes Clock(t).Now to the manager
// it builds; the suite advances it to step past the retention.
func Clock(t testing.TB) *testutil.Clock {
	c, loaded := clocks.LoadOrStore(t, testutil.Shifted())
	if !loaded {
		t.Cleanup(func() { clocks.Delete(t) })
	}
	return c.(*testutil.Clock)
}
