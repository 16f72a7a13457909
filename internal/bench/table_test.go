package bench

import (
	"strings"
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0ns"},
		{850 * time.Nanosecond, "850ns"},
		{12300 * time.Nanosecond, "12.3µs"},
		{4560 * time.Microsecond, "4.56ms"},
		{123 * time.Millisecond, "123ms"},
		{1200 * time.Millisecond, "1.20s"},
	}
	for _, tc := range tests {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	err := WriteTable(&b,
		Result{Name: "reference", Concurrency: 64, Elapsed: 20 * time.Second, Ops: 200000, Throughput: 10000,
			P50: 6 * time.Millisecond, P95: 9 * time.Millisecond, P99: 12 * time.Millisecond, Max: 40 * time.Millisecond},
		Result{Name: "token", Concurrency: 64, Elapsed: 20 * time.Second, Ops: 80000, Errors: 3, Throughput: 4000,
			FirstError: "POST /token: 401\ninvalid_client", P50: 15 * time.Millisecond},
	)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4 (header, two rows, one error line):\n%s", len(lines), b.String())
	}
	for i, want := range [][]string{
		{"scenario", "conc", "ops/s", "p50", "p95", "p99", "max"},
		{"reference", "64", "20.0s", "200000", "10000.0", "6.00ms", "9.00ms", "12.0ms", "40.0ms"},
		{"token", "80000", "3", "4000.0", "15.0ms"},
		{"token: 3 errors; first: POST /token: 401 invalid_client"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
			}
		}
	}
	// Columns line up: rows as wide as the header, names flush left.
	if got, want := strings.Index(lines[2], "token"), strings.Index(lines[1], "reference"); got != want {
		t.Errorf("name \"token\" starts at column %d, want %d (under \"reference\")", got, want)
	}
	if len([]rune(lines[1])) != len([]rune(lines[0])) {
		t.Errorf("row width %d, want the header's %d:\n%s", len([]rune(lines[1])), len([]rune(lines[0])), b.String())
	}
}
