package main

import (
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/cmd/cedula/app/apptest"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/issuer/demo"
)

// TestBenchJourneysSegment: `cedula bench journeys --mode segment` over a
// small population selects with CEL and in plain Go, the two agreeing, and
// reports both rates and their ratio for each round and the medians.
func TestBenchJourneysSegment(t *testing.T) {
	var out strings.Builder
	err := runBench(t.Context(), []string{"journeys", "--mode", "segment", "--population", "10000", "--rounds", "2", "--min-rate", "0"}, &out)
	if err != nil {
		t.Fatalf("bench journeys: %v\n%s", err, out.String())
	}
	rounds := regexp.MustCompile(`(?m)^segment: round (\d): CEL (\d+) citizens/s, ceiling (\d+) citizens/s, CEL/ceiling ([0-9.]+) \((\d+) matched\)$`).
		FindAllStringSubmatch(out.String(), -1)
	if len(rounds) != 2 {
		t.Fatalf("got %d round lines, want 2:\n%s", len(rounds), out.String())
	}
	for _, r := range rounds {
		// rulestest's population: 8 % or so of it in the segment.
		if cel, _ := strconv.Atoi(r[2]); cel <= 0 {
			t.Errorf("round %s: CEL %s citizens/s, want a rate", r[1], r[2])
		}
		if m, _ := strconv.Atoi(r[5]); m < 400 || m > 1200 {
			t.Errorf("round %s: %d matched of 10000, want about 800", r[1], m)
		}
	}
	if !regexp.MustCompile(`segment: median of 2 rounds: CEL \d+ citizens/s, ceiling \d+ citizens/s, CEL/ceiling [0-9.]+, on \d+ workers \(target ≥ 200000 citizens/s on 2 cores: (NOT )?met\)`).
		MatchString(out.String()) {
		t.Errorf("no median line in:\n%s", out.String())
	}
}

// TestBenchJourneysAlerts: `cedula bench journeys --mode alerts` against a
// real demo server (rate limits raised, as the bench asks) sets up wallet
// apps with the demo agency, holds their inbox streams open and publishes
// broadcast CAP alerts as that agency: each alert reaches every stream, and
// the run reports its percentiles. The first run's alerts are still in
// force when a second run opens its streams: each stream receives them on
// opening, and the bench reads them before it times its own.
func TestBenchJourneysAlerts(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir, cfg.Demo = t.TempDir(), true
	cfg.RateLimits = config.RateLimits{MobilePerCitizen: 1 << 20, LoginPerIP: 1000, EnrolPerIP: 1000, StreamsPerCitizen: 1000}
	t.Setenv("CEDULA_KEK", strings.Repeat("5e", 32))
	s, base := apptest.Start(t, cfg)
	if err := app.SeedDemo(context.Background(), s, io.Discard); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(cfg.DataDir, demo.MachineID+".jwk")
	event := regexp.MustCompile(`(?m)^alerts: event (\d) \(cedula-bench-[\w-]+-\d\): POST /alerts answered in \S+; reached (\d+) of (\d+) streams; ` +
		`from the POST: p50 \S+, p95 \S+, p99 \S+, max \S+$`)
	for run, events := range []int{2, 1} {
		var out strings.Builder
		err := runBench(t.Context(), []string{"journeys", "--mode", "alerts", "--url", base, "--client-id", demo.MachineID, "--client-key", keyFile,
			"--citizens", "2", "--streams", "20", "--events", strconv.Itoa(events), "--max-p99", "0", "--metrics-url", "none"}, &out)
		if err != nil {
			t.Fatalf("run %d: bench journeys: %v\n%s", run+1, err, out.String())
		}
		for _, w := range []string{
			"alerts: " + base + ", client demo-machine, 2 citizens, 20 streams",
			"set-up: 2 citizens created, enrolled (software passkeys), logged in as the wallet app in",
			"alerts: 20 streams open (2 citizens, about 10 each)",
		} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("run %d: output:\n%s\nwant it to contain %q", run+1, out.String(), w)
			}
		}
		lines := event.FindAllStringSubmatch(out.String(), -1)
		if len(lines) != events {
			t.Fatalf("run %d: %d event lines, want %d:\n%s", run+1, len(lines), events, out.String())
		}
		for _, l := range lines {
			if l[2] != "20" || l[3] != "20" {
				t.Errorf("run %d: event %s reached %s of %s streams, want 20 of 20", run+1, l[1], l[2], l[3])
			}
		}
		if !strings.Contains(out.String(), "(target every stream reached, p99 ≤ 2s: ") {
			t.Errorf("run %d: no summary line in:\n%s", run+1, out.String())
		}
		// The second run's streams each got the first run's alerts, in
		// force, on opening.
		if run == 1 && !strings.Contains(out.String(), "; 40 events on opening (alerts in force), read") {
			t.Errorf("run 2: want the 2 alerts in force read on each of the 20 streams:\n%s", out.String())
		}
	}
}

// TestBenchJourneysFlags: wrong flags are refused before anything runs.
func TestBenchJourneysFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown mode", []string{"--mode", "nope"}, `--mode "nope": want segment or alerts`},
		{"no population", []string{"--mode", "segment", "--population", "0"}, "--population 0"},
		{"no streams", []string{"--mode", "alerts", "--streams", "0"}, "--streams 0"},
		{"no key", []string{"--mode", "alerts", "--client-key", "/nonexistent.jwk"}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			err := runBench(t.Context(), append([]string{"journeys"}, tc.args...), &out)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
