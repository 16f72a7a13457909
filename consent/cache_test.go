package consent

import (
	"fmt"
	"testing"
	"time"
)

// TestCacheFillAfterInvalidation: a fill that read the database before an
// invalidation of its shard is dropped; one that read after is kept.
func TestCacheFillAfterInvalidation(t *testing.T) {
	c := newCache(1 << 10)
	k := Key{Subject: "s", Controller: "c", Purpose: "p"}
	stale := proj{id: "r", seq: 1, state: StateGiven}
	fresh := proj{id: "r", seq: 2, state: StateWithdrawn}

	e := c.epoch(k) // a miss starts reading the database…
	c.invalidate(k) // …the withdrawal is applied meanwhile…
	c.fill(k, e, stale)
	if p, ok := c.get(k); ok {
		t.Fatalf("fill begun before an invalidation: got %+v cached, want nothing", p)
	}
	e = c.epoch(k)
	c.fill(k, e, fresh)
	if p, ok := c.get(k); !ok || p.seq != fresh.seq || p.state != fresh.state {
		t.Fatalf("fill begun after the invalidation: got %+v (%v), want %+v", p, ok, fresh)
	}

	// Clearing bumps every shard, so no fill begun before it lands.
	other := Key{Subject: "t", Controller: "c", Purpose: "p"}
	e = c.epoch(other)
	c.clear()
	c.fill(other, e, stale)
	if _, ok := c.get(other); ok || c.len() != 0 {
		t.Fatalf("after clear: got %d entries, want 0", c.len())
	}
}

// TestCacheBounded: the cache never holds much more than its size.
func TestCacheBounded(t *testing.T) {
	const size = 4 * cacheShards
	c := newCache(size)
	for i := range 20 * size {
		k := Key{Subject: fmt.Sprint("s", i), Controller: "c", Purpose: "p"}
		c.fill(k, c.epoch(k), proj{seq: 1})
	}
	if n := c.len(); n > size {
		t.Errorf("cache of size %d: got %d entries", size, n)
	}
}

// TestNewIDSorts: IDs made later sort later as strings.
func TestNewIDSorts(t *testing.T) {
	prev := newID()
	for range 3 {
		time.Sleep(2 * time.Millisecond)
		id := newID()
		if len(id) != 24 || id <= prev {
			t.Fatalf("newID: got %q after %q, want 24 characters sorting later", id, prev)
		}
		prev = id
	}
}
