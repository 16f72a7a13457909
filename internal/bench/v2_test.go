package bench

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestES256Check: the check holds for its own JWS and fails for another
// signing input.
func TestES256Check(t *testing.T) {
	c, err := NewES256Check()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Verify() {
		t.Fatal("Verify() = false for the check's own JWS, want true")
	}
	tampered := *c
	tampered.input = append([]byte(nil), c.input...)
	tampered.input[len(tampered.input)-1] ^= 1
	if tampered.Verify() {
		t.Error("Verify() = true for a changed signing input, want false")
	}
}

func TestMeasureV2(t *testing.T) {
	c, err := NewES256Check()
	if err != nil {
		t.Fatal(err)
	}
	v, err := MeasureV2(t.Context(), c, 2, 50*time.Millisecond)
	if err != nil || v.Rate <= 0 || v.Workers != 2 {
		t.Errorf("MeasureV2: %+v, %v; want a positive rate from 2 workers", v, err)
	}
	if _, err := MeasureV2(t.Context(), c, 0, 0); err == nil {
		t.Error("MeasureV2 for 0s: no error, want one")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := MeasureV2(ctx, c, 1, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("MeasureV2 with its context ended: %v, want context.Canceled", err)
	}
	bad := *c
	bad.input = []byte("not the input signed")
	if _, err := MeasureV2(t.Context(), &bad, 1, 10*time.Millisecond); err == nil {
		t.Error("MeasureV2 of a failing check: no error, want one")
	}
}
