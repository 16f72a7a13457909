package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/jose"
)

// benchPurpose is the purpose `cedula bench consent` registers: one of the
// benchmarking client's own, on public task (so every decision reads the
// citizen's record for an objection, and allows).
const benchPurpose = `{"id":"bench-decide","name":{"es":"Banco de pruebas","en":"Benchmark"},
 "description":{"es":"Decisiones de prueba de rendimiento.","en":"Benchmark decisions."},
 "controller":%q,"legal_basis":"public_task","categories":["contact"],"dpv":"dpv:ServiceProvision",
 "notice_version":"1","notice_url":%q}`

func benchConsent(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cedula bench consent", flag.ContinueOnError)
	lf := newLoadFlags(fs)
	issuer := fs.String("url", "", "the server's issuer URL (required)")
	clientID := fs.String("client-id", "", "an agency client with scopes cedula:admin and cedula:consent, private_key_jwt (required)")
	keyFile := fs.String("client-key", "", "file with the client's private JWK (required)")
	citizens := fs.Int("citizens", 100, "citizens to create and ask about, round robin")
	rf := newRSSFlags(fs)
	compare := fs.Bool("compare", true, "also measure J at the same concurrency and print decide/J")
	minRatio := fs.Float64("min-ratio", 0.35, "with --compare, fail when decide/J is below this (0: never)")
	rounds := fs.Int("rounds", 3, "with --compare, alternate decide and J this many times and compare the medians")
	against := fs.String("against", "", "a second server's issuer URL: each round measures the same decisions there right after the first (its own purpose and citizens), and the run reports the first's throughput as a share of the second's")
	againstKey := fs.String("against-client-key", "", "with --against: the client's private JWK there (default: --client-key)")
	if err := parseBenchFlags(fs, args, stdout); err != nil {
		return err
	}
	if *issuer == "" || *clientID == "" || *keyFile == "" {
		return errors.New("cedula bench consent: --url, --client-id and --client-key are required")
	}
	raw, err := os.ReadFile(*keyFile)
	if err != nil {
		return fmt.Errorf("cedula bench consent: %w", err)
	}
	key, err := jose.ParseClientKey(raw)
	if err != nil {
		return fmt.Errorf("cedula bench consent: %s: %w", *keyFile, err)
	}
	hc := bench.NewHTTPClient(lf.concurrency)
	decide, base, err := newDecider(ctx, hc, *issuer, *clientID, key, *citizens)
	if err != nil {
		return err
	}
	var alt *scenario
	if *against != "" {
		akey := key
		if *againstKey != "" {
			raw, err := os.ReadFile(*againstKey)
			if err != nil {
				return fmt.Errorf("cedula bench consent: %w", err)
			}
			if akey, err = jose.ParseClientKey(raw); err != nil {
				return fmt.Errorf("cedula bench consent: %s: %w", *againstKey, err)
			}
		}
		op, abase, err := newDecider(ctx, hc, *against, *clientID, akey, *citizens)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "against: %s/consent/decide, the same client and decisions\n", abase)
		alt = &scenario{name: "against", op: op}
	}
	fmt.Fprintf(stdout, "consent: %s/consent/decide, client %s, %d citizens, concurrency %d, warm-up %v, duration %v\n",
		base, *clientID, *citizens, lf.concurrency, lf.warmup, lf.duration)
	return compareWithJ(ctx, "decide", decide, rf.source(*issuer, hc), lf, *compare, *rounds, *minRatio, stdout, alt)
}

// newDecider registers the bench's purpose and citizens at the server at
// issuer and returns the operation that asks it for one decision, and the
// server's base URL.
func newDecider(ctx context.Context, hc *http.Client, issuer, clientID string, key *jose.ClientKey, citizens int) (func(context.Context) error, string, error) {
	tc, err := bench.NewTokenClient(ctx, bench.TokenConfig{Issuer: issuer, ClientID: clientID, Key: key,
		Audience: bench.AudTokenEndpoint, Scope: "cedula:admin cedula:consent", HTTP: hc})
	if err != nil {
		return nil, "", err
	}
	token, err := tc.Token(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("cedula bench consent: token: %w", err)
	}
	base := strings.TrimRight(tc.Issuer(), "/")
	// post sends body with the token and decodes a 2xx answer into out.
	post := func(ctx context.Context, path string, body []byte, out any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		if res.StatusCode/100 != 2 {
			return fmt.Errorf("POST %s: status %d: %s", path, res.StatusCode, bytes.TrimSpace(b))
		}
		return json.Unmarshal(b, out)
	}
	call := func(path, body string, out any) error { return post(ctx, path, []byte(body), out) }
	if err := call("/admin/purposes", fmt.Sprintf(benchPurpose, clientID, base+"/privacy"), &struct{}{}); err != nil {
		return nil, "", fmt.Errorf("cedula bench consent: %s: register the purpose: %w", base, err)
	}
	bodies := make([][]byte, citizens)
	for i := range bodies {
		var c struct{ Sub string }
		if err := call("/admin/citizens", fmt.Sprintf(`{"given_name":"Bench","family_name":"Citizen %d","locale":"es"}`, i), &c); err != nil {
			return nil, "", fmt.Errorf("cedula bench consent: %s: create a citizen: %w", base, err)
		}
		bodies[i], _ = json.Marshal(map[string]any{"sub": c.Sub, "purpose": "bench-decide", "categories": []string{"contact"}})
	}
	var next atomic.Int64
	decide := func(ctx context.Context) error {
		i := int(next.Add(1) % int64(len(bodies)))
		var d struct{ Allow bool }
		if err := post(ctx, "/consent/decide", bodies[i], &d); err != nil {
			return err
		}
		if !d.Allow {
			return errors.New("decide: denied, want allowed")
		}
		return nil
	}
	if err := decide(ctx); err != nil {
		return nil, "", fmt.Errorf("cedula bench consent: %s: first decision: %w", base, err)
	}
	return decide, base, nil
}
