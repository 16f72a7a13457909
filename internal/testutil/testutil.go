// Package testutil holds the small helpers the tests of every room share:
// a clock the test moves, a buffer that goroutines may write to (a
// logger's output read by the test), JSON decoded as verifiers read it.
package testutil

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// Clock is a clock the test moves with Add. Made by NewClock it starts at
// a fixed time; made by Shifted it follows the real time, moved by what
// Add added. It is safe for concurrent use.
type Clock struct {
	mu    sync.Mutex
	start time.Time // zero: the real time
	off   time.Duration
}

// NewClock returns a clock that stands at start until moved.
func NewClock(start time.Time) *Clock { return &Clock{start: start} }

// Shifted returns a clock that follows the real time, moved by Add.
func Shifted() *Clock { return &Clock{} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.start.IsZero() {
		return time.Now().Add(c.off)
	}
	return c.start.Add(c.off)
}

// Add moves the clock by d (back when d is negative).
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// Offset returns how far Add moved the clock in all.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.off
}

// Buffer is a bytes.Buffer that goroutines may write to while the test
// reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// DecodeJSON decodes a JSON object the way verifiers of signed JSON read
// it: numbers as json.Number, so that nothing is rounded through float64.
func DecodeJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}
