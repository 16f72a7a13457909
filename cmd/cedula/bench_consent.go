package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/spf13/cobra"

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

// benchConsentOptions are the flags of cedula bench consent.
type benchConsentOptions struct {
	load                   loadFlags
	rss                    rssFlags
	compare                compareFlags
	url, clientID, keyFile string
	citizens               int
	against, againstKey    string
}

func newBenchConsentCmd() *cobra.Command {
	var o benchConsentOptions
	cmd := &cobra.Command{
		Use:   "consent",
		Short: "Load the consent decisions of a server (POST /consent/decide)",
		Long: `Load the consent decisions of the server at --url: the client registers a
purpose of its own on public task and --citizens citizens through the admin API,
then each request asks POST /consent/decide about one of them, round robin. With
--compare (the default) also measure J at the same concurrency and print
decide/J. The client needs the scopes cedula:admin and cedula:consent, and
private_key_jwt.`,
		Example: "  cedula bench consent --url http://localhost:8080 --client-id demo-machine --client-key data/demo-machine.jwk",
		Args:    noArgs,
		RunE:    runWith(&o, benchConsent),
	}
	fs := cmd.Flags()
	o.load.add(fs, defaultConcurrency)
	fs.StringVar(&o.url, "url", "", "the server's issuer `URL` (required)")
	fs.StringVar(&o.clientID, "client-id", "", "an agency client with scopes cedula:admin and cedula:consent, private_key_jwt (required)")
	fs.StringVar(&o.keyFile, "client-key", "", "`file` with the client's private JWK (required)")
	fs.IntVar(&o.citizens, "citizens", 100, "citizens to create and ask about, round robin")
	o.rss.add(fs)
	o.compare.add(fs, "decide", defaultMinRatio)
	fs.StringVar(&o.against, "against", "", "a second server's issuer `URL`: each round measures the same decisions there right after the first (its own purpose and citizens), and the run reports the first's throughput as a share of the second's")
	fs.StringVar(&o.againstKey, "against-client-key", "", "with --against: `file` with the client's private JWK there (default: --client-key)")
	return cmd
}

func benchConsent(ctx context.Context, o benchConsentOptions, stdout io.Writer) error {
	lf := &o.load
	if o.url == "" || o.clientID == "" || o.keyFile == "" {
		return errors.New("cedula bench consent: --url, --client-id and --client-key are required")
	}
	raw, err := os.ReadFile(o.keyFile)
	if err != nil {
		return fmt.Errorf("cedula bench consent: %w", err)
	}
	key, err := jose.ParseClientKey(raw)
	if err != nil {
		return fmt.Errorf("cedula bench consent: %s: %w", o.keyFile, err)
	}
	hc := bench.NewHTTPClient(lf.concurrency)
	decide, base, err := newDecider(ctx, hc, o.url, o.clientID, key, o.citizens)
	if err != nil {
		return err
	}
	var alt *scenario
	if o.against != "" {
		akey := key
		if o.againstKey != "" {
			raw, err := os.ReadFile(o.againstKey)
			if err != nil {
				return fmt.Errorf("cedula bench consent: %w", err)
			}
			if akey, err = jose.ParseClientKey(raw); err != nil {
				return fmt.Errorf("cedula bench consent: %s: %w", o.againstKey, err)
			}
		}
		op, abase, err := newDecider(ctx, hc, o.against, o.clientID, akey, o.citizens)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "against: %s/consent/decide, the same client and decisions\n", abase)
		alt = &scenario{name: "against", op: op}
	}
	fmt.Fprintf(stdout, "consent: %s/consent/decide, client %s, %d citizens, concurrency %d, warm-up %v, duration %v\n",
		base, o.clientID, o.citizens, lf.concurrency, lf.warmup, lf.duration)
	return compareWithJ(ctx, scenario{name: "decide", op: decide}, o.rss.source(o.url, hc), lf, o.compare, stdout, alt)
}

// newDecider registers the bench's purpose and citizens at the server at
// issuer and returns the operation that asks it for one decision, and the
// server's base URL.
func newDecider(ctx context.Context, hc *http.Client, issuer, clientID string, key *jose.ClientKey, citizens int) (func(context.Context) error, string, error) {
	api, err := newAgencyAPI(ctx, hc, issuer, clientID, key, "cedula:admin cedula:consent")
	if err != nil {
		return nil, "", fmt.Errorf("cedula bench consent: %w", err)
	}
	base := api.base
	if err := api.post(ctx, "/admin/purposes", fmt.Appendf(nil, benchPurpose, clientID, base+"/privacy"), &struct{}{}); err != nil {
		return nil, "", fmt.Errorf("cedula bench consent: %s: register the purpose: %w", base, err)
	}
	subs, err := api.createCitizens(ctx, citizens)
	if err != nil {
		return nil, "", fmt.Errorf("cedula bench consent: %w", err)
	}
	bodies := make([][]byte, citizens)
	for i, sub := range subs {
		bodies[i], _ = json.Marshal(map[string]any{"sub": sub, "purpose": "bench-decide", "categories": []string{"contact"}})
	}
	var next atomic.Int64
	decide := func(ctx context.Context) error {
		i := int(next.Add(1) % int64(len(bodies)))
		var d struct{ Allow bool }
		if err := api.post(ctx, "/consent/decide", bodies[i], &d); err != nil {
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
