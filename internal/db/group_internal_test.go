package db

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestGroupLoneCallerFlushesItself: a caller alone flushes its item on its
// own goroutine; callers arriving while that flush runs queue, and the
// loop gives them all one flush after it.
func TestGroupLoneCallerFlushesItself(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gate := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	var inline []bool
	g := NewGroup(ctx, 64, func(items []int) []error {
		buf := make([]byte, 1<<16)
		stack := string(buf[:runtime.Stack(buf, false)])
		mu.Lock()
		sizes = append(sizes, len(items))
		inline = append(inline, strings.Contains(stack, ").Do("))
		mu.Unlock()
		if items[0] == 0 {
			<-gate
		}
		return make([]error, len(items))
	})
	if err := g.Do(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The first item's flush blocks on gate; ten more arrive meanwhile.
	first := make(chan error, 1)
	go func() { first <- g.Do(ctx, 0) }()
	for {
		mu.Lock()
		started := len(sizes) == 2
		mu.Unlock()
		if started {
			break
		}
		runtime.Gosched()
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if err := g.Do(ctx, 10+i); err != nil {
				t.Error(err)
			}
		})
	}
	// The loop holds one of them, waiting for the flush; nine are queued.
	for len(g.reqs) < 9 {
		runtime.Gosched()
	}
	close(gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	mu.Lock()
	if len(sizes) != 3 || sizes[0] != 1 || sizes[1] != 1 || sizes[2] != 10 {
		t.Fatalf("flush sizes: got %v, want [1 1 10]", sizes)
	}
	if !inline[0] || !inline[1] || inline[2] {
		t.Errorf("flushed on the caller's goroutine: got %v, want [true true false]", inline)
	}
	mu.Unlock()
	// After a group of ten, a lone caller goes through the loop once more
	// (the last flush was not lone); after that it flushes itself again.
	for range 2 {
		if err := g.Do(ctx, 99); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(inline) != 5 || inline[3] || !inline[4] {
		t.Errorf("after the group: flushed on the caller's goroutine %v, want false then true", inline[3:])
	}
}
