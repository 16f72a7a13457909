package testutil_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/testutil"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := testutil.NewClock(start)
	if !c.Now().Equal(start) {
		t.Errorf("a new clock: %v, want %v", c.Now(), start)
	}
	c.Add(time.Hour)
	c.Add(-time.Minute)
	if want := start.Add(59 * time.Minute); !c.Now().Equal(want) || c.Offset() != 59*time.Minute {
		t.Errorf("moved: %v (offset %v), want %v", c.Now(), c.Offset(), want)
	}
	s := testutil.Shifted()
	s.Add(24 * time.Hour)
	if d := s.Now().Sub(time.Now()); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("a shifted clock moved a day is %v from the real time", d)
	}
}

func TestBufferConcurrentWrites(t *testing.T) {
	var b testutil.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := len(b.String()); n != 8*100*2 {
		t.Errorf("wrote %d bytes, want %d", n, 8*100*2)
	}
}
