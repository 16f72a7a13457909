package main

import (
	"context"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/cmd/cedula/app/apptest"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/issuer/demo"
	walletpkg "github.com/cedula/cedula/wallet"
)

// TestBenchWallet: `cedula bench wallet` against a real demo server (its
// rate limits raised, as the bench asks) sets up citizens through the
// admin API, enrolment links, software passkeys and the wallet app's
// login, fills their wallets, then measures list and accept with J for
// one short round each; every accept counted is a credential received in
// the audit log, and every list counted held all the credentials. Then
// inbox streams, each of which two status changes reach.
func TestBenchWallet(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir, cfg.Demo = t.TempDir(), true
	cfg.RateLimits = config.RateLimits{MobilePerCitizen: 1 << 20, LoginPerIP: 1000, EnrolPerIP: 1000}
	t.Setenv("CEDULA_KEK", strings.Repeat("5e", 32))
	s, base := apptest.Start(t, cfg)
	if err := app.SeedDemo(context.Background(), s, io.Discard); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(cfg.DataDir, demo.MachineID+".jwk")
	const citizens, held = 5, 3 // more citizens than set-up workers (concurrency 2)
	var out strings.Builder
	err := runBench(t.Context(), []string{"wallet", "--quiet", "--rounds", "1", "--metrics-url", "none", "--min-ratio", "0",
		"--url", base, "--client-id", demo.MachineID, "--client-key", keyFile, "--citizens", strconv.Itoa(citizens),
		"--held", strconv.Itoa(held), "--concurrency", "2", "--duration", "500ms", "--warmup", "100ms",
		"--streams", "40", "--events", "2"}, &out)
	if err != nil {
		t.Fatalf("bench wallet: %v\n%s", err, out.String())
	}
	for _, w := range []string{
		"set-up: 5 citizens created, enrolled (software passkeys), logged in as the wallet app and holding 3 credentials each",
		"wallet: " + base + "/mobile/v1, client demo-machine, type pid, 5 citizens holding 3 credentials each, concurrency 2",
		"list: each call timed: GET /mobile/v1/credentials?limit=3", "accept: each call timed: POST /mobile/v1/offers",
		"offers: ", "reference J: ", "list/J = ", "accept/J = ",
		"sse: 40 streams open (5 citizens, about 8 each)",
		"sse: event 1 (credential_suspended): 5 agency changes", "reached 40 of 40 streams",
		"sse: event 2 (credential_reinstated): 5 agency changes",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output:\n%s\nwant it to contain %q", out.String(), w)
		}
	}
	if n := strings.Count(out.String(), "reached 40 of 40 streams"); n != 2 {
		t.Errorf("%d events reached every stream, want 2:\n%s", n, out.String())
	}
	ok := map[string]int{}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[0] == "list" || f[0] == "accept") && f[1] == "2" {
			ok[f[0]], _ = strconv.Atoi(f[3])
			if f[4] != "0" {
				t.Errorf("%s: %s errors, want none:\n%s", f[0], f[4], out.String())
			}
		}
	}
	if ok["list"] == 0 {
		t.Errorf("no list counted:\n%s", out.String())
	}
	// The set-up received citizens × held; the accept round the rest.
	if got := entriesInLog(t, s, walletpkg.ActionReceive) - citizens*held; ok["accept"] == 0 || got < ok["accept"] {
		t.Errorf("%d accepts counted, %d more %s entries in the log than the set-up's; want some, each in the log",
			ok["accept"], got, walletpkg.ActionReceive)
	}
}
