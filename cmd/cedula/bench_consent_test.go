package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/issuer"
)

// TestBenchConsent: `cedula bench consent` registers its purpose and
// citizens through the admin API of a real server, then loads
// POST /consent/decide; every decision it counted is in the audit log.
func TestBenchConsent(t *testing.T) {
	s, base, _ := recorderServer(t, app.AdminScope)
	keyFile, jwks := clientKeyFile(t)
	benchClient(t, s, jwks)
	var out bytes.Buffer
	err := runBench(context.Background(), []string{"consent", "--quiet", "--compare=false", "--url", base, "--client-id", "bench",
		"--client-key", keyFile, "--citizens", "3", "--concurrency", "2", "--duration", "300ms", "--warmup", "0s"}, &out)
	if err != nil || !strings.Contains(out.String(), "consent: "+base+"/consent/decide, client bench, 3 citizens") || !strings.Contains(out.String(), "decide") {
		t.Fatalf("bench consent: %v\n%s", err, out.String())
	}
	if decisions := allowedDecisions(t, s); decisions < 2 {
		t.Errorf("%d allowed decisions in the log, want every one the bench made (at least 2)", decisions)
	}
	// Without the consent scope the bench says so at once.
	if err := runBench(context.Background(), []string{"consent", "--url", base, "--client-id", "recorder", "--client-key", keyFile}, &out); err == nil {
		t.Error("bench consent with a client lacking the key and scope: no error")
	}
}

// TestBenchConsentAgainst: --against makes the same decisions on a second
// server in every round (its own purpose and citizens, registered there)
// and reports the first's throughput as a share of the second's.
func TestBenchConsentAgainst(t *testing.T) {
	keyFile, jwks := clientKeyFile(t)
	var servers []*app.Server
	var bases []string
	for range 2 {
		s, base, _ := recorderServer(t, app.AdminScope)
		benchClient(t, s, jwks)
		servers, bases = append(servers, s), append(bases, base)
	}
	var out bytes.Buffer
	err := runBench(context.Background(), []string{"consent", "--quiet", "--rounds", "2", "--min-ratio", "0", "--metrics-url", "none",
		"--url", bases[0], "--against", bases[1], "--client-id", "bench", "--client-key", keyFile, "--citizens", "2",
		"--concurrency", "2", "--duration", "200ms", "--warmup", "0s"}, &out)
	if err != nil {
		t.Fatalf("bench consent --against: %v\n%s", err, out.String())
	}
	for _, w := range []string{"against: " + bases[1] + "/consent/decide", "decide as a share of against, median of the rounds' ratios: "} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output:\n%s\nwant it to contain %q", out.String(), w)
		}
	}
	for i, s := range servers {
		if n := allowedDecisions(t, s); n < 2 {
			t.Errorf("server %d: %d allowed decisions in its log, want the bench's", i+1, n)
		}
	}
}

// benchClient registers the bench's agency client (admin and consent
// scopes, private_key_jwt with jwks) on s.
func benchClient(t *testing.T, s *app.Server, jwks []byte) {
	t.Helper()
	if err := s.Store.PutClient(context.Background(), issuer.Client{ID: "bench", Name: "bench", GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: jwks, SubjectType: issuer.SubjectPairwise,
		Scopes: []string{app.AdminScope, app.ConsentScope}}); err != nil {
		t.Fatal(err)
	}
}

// allowedDecisions counts the allowed consent decisions in s's log.
func allowedDecisions(t *testing.T, s *app.Server) int {
	t.Helper()
	ctx := context.Background()
	if err := s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	n, _ := s.Audit.Size(ctx)
	decisions := 0
	for start := int64(0); start < n; start += 1000 {
		recs, err := s.Audit.Entries(ctx, start, min(n, start+1000))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if e, _ := r.Entry(); e.Action == consent.ActionDecide && e.Outcome == "allowed" {
				decisions++
			}
		}
	}
	return decisions
}
