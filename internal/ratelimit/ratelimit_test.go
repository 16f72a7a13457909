package ratelimit

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestRemoteIP(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:5000":             "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"not an address":             "not an address",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		if got := RemoteIP(r); got != want {
			t.Errorf("RemoteIP(%q): got %q, want %q", addr, got, want)
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := New(Rate{N: 3, Per: time.Minute}, func() time.Time { return now })
	for i := range 3 {
		if l.Exhausted("a") || !l.Allow("a") {
			t.Fatalf("attempt %d: got refused, want allowed", i+1)
		}
	}
	if !l.Exhausted("a") || l.Allow("a") {
		t.Errorf("attempt 4: got allowed, want refused")
	}
	if l.Exhausted("b") || !l.Allow("b") {
		t.Errorf("another key: got refused, want allowed")
	}
	if l.Refill() != 20*time.Second {
		t.Errorf("refill: got %v, want 20s", l.Refill())
	}
	now = now.Add(20 * time.Second) // one token back
	if !l.Allow("a") || l.Allow("a") {
		t.Errorf("after 20 s: want exactly one more attempt")
	}
}
