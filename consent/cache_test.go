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

// TestCacheComplete: in a complete cache a key not held has no record; an
// invalidation leaves "unknown", never a hole, including when a fill
// begun before it lands after it; clearing ends completeness.
func TestCacheComplete(t *testing.T) {
	c := newCache(0)
	held := Key{Subject: "s", Controller: "c", Purpose: "p"}
	absent := Key{Subject: "t", Controller: "c", Purpose: "p"}
	given := proj{id: "r", seq: 1, state: StateGiven}
	withdrawn := proj{id: "r", seq: 2, state: StateWithdrawn}
	c.load(held, given)
	c.setComplete()

	check := func(step string, k Key, wantOK bool, want proj) {
		t.Helper()
		p, ok := c.get(k)
		if ok != wantOK || (ok && (p.seq != want.seq || p.state != want.state)) {
			t.Errorf("%s: get(%s): got %+v, %v; want %+v, %v", step, k.Subject, p, ok, want, wantOK)
		}
	}
	check("preloaded", held, true, given)
	check("preloaded", absent, true, proj{})

	for _, k := range []Key{held, absent} {
		e := c.epoch(k) // a miss would start reading here…
		c.invalidate(k) // …and the change is applied meanwhile
		check("invalidated", k, false, proj{})
		c.fill(k, e, given)
		check("fill begun before the invalidation", k, false, proj{})
		c.fill(k, c.epoch(k), withdrawn)
		check("fill begun after the invalidation", k, true, withdrawn)
	}
	if n := c.len(); n != 2 {
		t.Errorf("entries: got %d, want 2", n)
	}
	if !c.clear() {
		t.Errorf("clear: got not complete before, want complete")
	}
	check("cleared", held, false, proj{})
	c.invalidate(absent)
	if n := c.len(); n != 0 || c.complete.Load() {
		t.Errorf("after clear and an invalidation: got %d entries, complete %v; want 0, false", n, c.complete.Load())
	}
}
