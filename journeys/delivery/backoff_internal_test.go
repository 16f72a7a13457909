package delivery

import (
	"testing"
	"time"
)

// TestBackoff: 5 s after the first attempt, doubled after each other, at
// most an hour.
func TestBackoff(t *testing.T) {
	cases := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 5 * time.Second},
		{2, 10 * time.Second},
		{3, 20 * time.Second},
		{8, 640 * time.Second},
		{10, 2560 * time.Second},
		{11, time.Hour},
		{1000, time.Hour},
	}
	for _, tc := range cases {
		if got := backoff(tc.attempt, 5*time.Second, time.Hour); got != tc.want {
			t.Errorf("backoff(%d): got %s, want %s", tc.attempt, got, tc.want)
		}
	}
}
