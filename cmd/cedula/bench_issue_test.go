package main

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/cmd/cedula/app/apptest"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/vci"
)

// issuerServer starts a real server set up as by `serve --demo`: the
// demo's credential types, purposes and back-end client.
func issuerServer(t *testing.T) (*app.Server, string, string) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.Demo = t.TempDir(), true
	t.Setenv("CEDULA_KEK", strings.Repeat("5e", 32))
	s, base := apptest.Start(t, cfg)
	if err := app.SeedDemo(context.Background(), s, io.Discard); err != nil {
		t.Fatal(err)
	}
	return s, base, filepath.Join(cfg.DataDir, demo.MachineID+".jwk")
}

// TestBenchIssuance: `cedula bench issue` and `cedula bench credential`
// against a real demo server, each compared with J for one round, print
// what they do and their table; every flow or request counted issued a
// credential, which the audit log holds.
func TestBenchIssuance(t *testing.T) {
	s, base, keyFile := issuerServer(t)
	common := []string{"--quiet", "--rounds", "1", "--metrics-url", "none", "--url", base, "--client-id", demo.MachineID,
		"--client-key", keyFile, "--citizens", "3", "--concurrency", "4", "--duration", "1s", "--warmup", "200ms"}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"issue", []string{"issue"}, []string{"issue: " + base + ", client demo-machine, type pid, 1 credential(s) a request, 3 citizens, concurrency 4",
			"each flow timed: token", "offers: ", " made in ", "reference J: ", "issue/J = "}},
		{"credential", []string{"credential", "--batch", "2"}, []string{"credential: " + base + ", client demo-machine, type pid, 2 credential(s) a request",
			"4 wallets, one DPoP-bound token each", "reference J: ", "credential/J = "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := entriesInLog(t, s, vci.ActionIssue)
			var out strings.Builder
			if err := runBench(t.Context(), append(tc.args, common...), &out); err != nil {
				t.Fatalf("bench %s: %v\n%s", tc.name, err, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output:\n%s\nwant it to contain %q", out.String(), w)
				}
			}
			ok := 0
			for _, line := range strings.Split(out.String(), "\n") {
				if f := strings.Fields(line); len(f) > 4 && f[0] == tc.name && f[1] == "4" {
					ok, _ = strconv.Atoi(f[3])
				}
			}
			if got := entriesInLog(t, s, vci.ActionIssue) - before; ok == 0 || got < ok {
				t.Errorf("%d calls counted, %d new %s entries in the log; want some, each in the log", ok, got, vci.ActionIssue)
			}
		})
	}
}

// TestBenchIssuanceRefused: set-ups the scenarios cannot measure fail
// before the first round, saying why.
func TestBenchIssuanceRefused(t *testing.T) {
	s, base, keyFile := issuerServer(t)
	otherKey, jwks := clientKeyFile(t)
	benchClient(t, s, jwks) // admin and consent, no issuance
	args := func(extra ...string) []string {
		return append([]string{"--quiet", "--compare=false", "--url", base, "--client-id", demo.MachineID, "--client-key", keyFile,
			"--citizens", "1", "--concurrency", "1", "--duration", "100ms", "--warmup", "0s"}, extra...)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no flags", []string{"issue"}, "--url, --client-id and --client-key are required"},
		{"unknown type", append([]string{"issue"}, args("--type", "nope")...), `--type "nope": the issuer offers [business-representation pid residence]`},
		{"batch beyond batch_size", append([]string{"credential"}, args("--batch", "11")...), "--batch 11: the issuer's batch_size is 10"},
		{"a type on approval", append([]string{"issue"}, args("--type", "business-representation")...), "first flow: credential: deferred"},
		{"a type on approval, credential", append([]string{"credential"}, args("--type", "business-representation")...), "first request: credential: deferred"},
		{"no issuance scope", append([]string{"credential"}, args("--client-id", "bench", "--client-key", otherKey)...), "invalid_scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			err := runBench(t.Context(), tc.args, &out)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestStock: a stock hands each item out once, sizes later fills by the
// busiest round, and reports a round that ran out after waiting it out.
func TestStock(t *testing.T) {
	ctx := t.Context()
	var s stock[int]
	var n atomic.Int64
	mk := func(context.Context) (int, error) { return int(n.Add(1)), nil }
	if made, err := s.fill(ctx, 3, 0, 1, mk); err != nil || made != 3 || s.ready() != 3 {
		t.Fatalf("fill 3: made %d, ready %d, %v; want 3, 3", made, s.ready(), err)
	}
	for want := 1; want <= 2; want++ {
		if got, err := s.take(ctx); got != want || err != nil {
			t.Fatalf("take: %d, %v; want %d", got, err, want)
		}
	}
	if used, dry := s.settle(); used != 2 || dry || s.ready() != 1 {
		t.Fatalf("settle: used %d, dry %v, ready %d; want 2, false, 1", used, dry, s.ready())
	}
	// Sized by the busiest round: 2 and a quarter, so one more than the one left.
	if made, err := s.fill(ctx, 0, 0, 1, mk); err != nil || made != 1 || s.ready() != 2 {
		t.Fatalf("fill by the busiest round: made %d, ready %d, %v; want 1, 2", made, s.ready(), err)
	}
	s.take(ctx)
	s.take(ctx)
	round, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := s.take(round); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("take from an empty stock: %v, want to wait for the round's end", err)
	}
	if used, dry := s.settle(); used != 2 || !dry {
		t.Errorf("settle after running out: used %d, dry %v; want 2, true", used, dry)
	}
	// The first fill of a sizeless stock makes items for the round's length.
	var first stock[int]
	if made, err := first.fill(ctx, 0, 20*time.Millisecond, 2, mk); err != nil || made == 0 {
		t.Errorf("timed fill: made %d, %v; want some", made, err)
	}
	// A guess sizes the first fill only; then the busiest round does.
	guessed := stock[int]{guess: 8}
	if made, err := guessed.fill(ctx, 0, time.Hour, 2, mk); err != nil || made != 8 {
		t.Fatalf("fill by the guess: made %d, %v; want 8", made, err)
	}
	for range 4 {
		guessed.take(ctx)
	}
	guessed.settle()
	if made, err := guessed.fill(ctx, 0, time.Hour, 2, mk); err != nil || made != 1 || guessed.ready() != 5 {
		t.Errorf("fill after a round of 4: made %d, ready %d, %v; want 1, 5", made, guessed.ready(), err)
	}
}
