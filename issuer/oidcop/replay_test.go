package oidcop

import (
	"fmt"
	"testing"
	"time"
)

func TestReplayCache(t *testing.T) {
	c := newReplayCache()
	now := time.Unix(1_000_000, 0)
	if err := c.add("a", now.Add(time.Minute), now); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := c.add("a", now.Add(time.Minute), now.Add(30*time.Second)); err != errReplayed {
		t.Errorf("replay within the lifetime: got %v, want errReplayed", err)
	}
	// After expiry (and a sweep) the ID may appear again: the assertion
	// itself would be refused as expired anyway.
	if err := c.add("a", now.Add(5*time.Minute), now.Add(2*time.Minute)); err != nil {
		t.Errorf("an expired ID after a sweep: got %v, want nil", err)
	}
}

func TestReplayCacheFull(t *testing.T) {
	c := newReplayCache()
	now := time.Unix(1_000_000, 0)
	for i := range maxReplayEntries {
		c.seen[fmt.Sprint(i)] = now.Add(time.Hour)
	}
	if err := c.add("new", now.Add(time.Hour), now); err != errReplayFull {
		t.Errorf("a full cache: got %v, want errReplayFull (refuse rather than forget)", err)
	}
	// Once entries expire, a sweep makes room.
	if err := c.add("new", now.Add(3*time.Hour), now.Add(2*time.Hour)); err != nil {
		t.Errorf("after expiry: got %v, want nil", err)
	}
}
