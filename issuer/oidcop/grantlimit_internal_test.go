package oidcop

import (
	"testing"
	"time"
)

// TestFailureLimit: an address may fail 20 times at once, then once every
// three seconds; another address is not concerned.
func TestFailureLimit(t *testing.T) {
	l := newFailureLimit()
	now := time.Unix(1_800_000_000, 0)
	for i := range 20 {
		if b, _ := l.blocked("192.0.2.1", now); b {
			t.Fatalf("blocked after %d failures", i)
		}
		l.failed("192.0.2.1", now)
	}
	if b, retry := l.blocked("192.0.2.1", now); !b || retry <= 0 {
		t.Errorf("not blocked after 20 failures (retry %v)", retry)
	}
	if b, _ := l.blocked("192.0.2.2", now); b {
		t.Errorf("another address blocked")
	}
	if b, _ := l.blocked("192.0.2.1", now.Add(3*time.Second)); b {
		t.Errorf("still blocked after the bucket refilled one")
	}
}
