package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/jose"
)

const benchUsage = `Usage:
  cedula bench reference [flags]
      measure J: an in-process echo server on loopback whose one handler signs
      an SD-JWT-sized ES256 credential (8 disclosures, about 1 KiB)
  cedula bench token --url URL --client-id ID --client-key FILE.jwk [flags]
      load the token endpoint of the server at URL with client_credentials and
      private_key_jwt (a fresh RFC 7523 assertion per request); with --compare
      (the default) also measure J at the same concurrency and print token/J

  cedula bench audit [--db postgres://…] [flags]
      durable audit appends per second at concurrency 1 and --concurrency,
      against F, bare fdatasync per second on the same disk, in one run

  cedula bench seed [--db URL] [--data-dir DIR] --entries N --citizens M
      load a database in bulk with N audit entries (hashes, proofs and every
      index as the server writes them) and M citizens (a passkey and pairwise
      subjects each), to measure the server at a national service's size

Each scenario runs --concurrency workers in a closed loop, first for --warmup
(not measured), then for --duration, printing progress once a second and then
a table of throughput and latency percentiles.
`

// runBench runs `cedula bench SCENARIO [flags]`.
func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, benchUsage)
		return errors.New("cedula bench needs a scenario: reference, token, audit, consent or seed")
	}
	switch args[0] {
	case "reference":
		return benchReference(ctx, args[1:], stdout)
	case "token":
		return benchToken(ctx, args[1:], stdout)
	case "audit":
		return benchAudit(ctx, args[1:], stdout)
	case "consent":
		return benchConsent(ctx, args[1:], stdout)
	case "seed":
		return benchSeed(ctx, args[1:], stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, benchUsage)
		return nil
	}
	return fmt.Errorf("cedula bench: unknown scenario %q (reference, token, audit, consent, seed)", args[0])
}

// loadFlags are the flags every scenario shares.
type loadFlags struct {
	concurrency      int
	duration, warmup time.Duration
	quiet            bool
}

func newLoadFlags(fs *flag.FlagSet) *loadFlags {
	l := &loadFlags{}
	fs.IntVar(&l.concurrency, "concurrency", 64, "workers, each with one request in flight")
	fs.DurationVar(&l.duration, "duration", 20*time.Second, "measured time")
	fs.DurationVar(&l.warmup, "warmup", 3*time.Second, "unmeasured time first, to warm connections and caches")
	fs.BoolVar(&l.quiet, "quiet", false, "no progress lines, only the results")
	return l
}

func (l *loadFlags) options(name string, stdout io.Writer) bench.Options {
	o := bench.Options{Name: name, Concurrency: l.concurrency, Duration: l.duration, Warmup: l.warmup}
	if !l.quiet {
		o.Progress = stdout
	}
	return o
}

// parseBenchFlags parses args, printing the usage to stdout for -h, and
// rejects positional arguments.
func parseBenchFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(stdout)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

func benchReference(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cedula bench reference", flag.ContinueOnError)
	lf := newLoadFlags(fs)
	if err := parseBenchFlags(fs, args, stdout); err != nil {
		return err
	}
	j, err := measureReference(ctx, lf, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := bench.WriteTable(stdout, j); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "J = %.1f signed SD-JWTs per second at concurrency %d\n", j.Throughput, j.Concurrency)
	return nil
}

// measureReference starts the reference server, loads it and stops it.
func measureReference(ctx context.Context, lf *loadFlags, stdout io.Writer) (bench.Result, error) {
	ref, err := bench.StartReference(ctx)
	if err != nil {
		return bench.Result{}, err
	}
	defer ref.Close()
	fmt.Fprintf(stdout, "reference J: %s, concurrency %d, warm-up %v, duration %v\n", ref.URL, lf.concurrency, lf.warmup, lf.duration)
	res, err := bench.Run(ctx, lf.options("reference", stdout), ref.Op(bench.NewHTTPClient(lf.concurrency)))
	if err != nil {
		return res, partial(stdout, res, err)
	}
	if res.Ops == 0 {
		return res, fmt.Errorf("reference: no request succeeded; first error: %s", res.FirstError)
	}
	return res, nil
}

func benchToken(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cedula bench token", flag.ContinueOnError)
	lf := newLoadFlags(fs)
	issuer := fs.String("url", "", "the server's issuer URL; its discovery document gives the token endpoint (required)")
	clientID := fs.String("client-id", "", "client ID of an agency client registered for private_key_jwt (required)")
	keyFile := fs.String("client-key", "", "file with the client's private JWK (required)")
	aud := fs.String("aud", string(bench.AudTokenEndpoint), "client assertion audience: token-endpoint, issuer or both")
	scope := fs.String("scope", "", "scope to request (optional)")
	compare := fs.Bool("compare", true, "also measure J at the same concurrency and print token/J")
	minRatio := fs.Float64("min-ratio", 0.35, "with --compare, fail when token/J is below this (0: never)")
	rounds := fs.Int("rounds", 3, "with --compare, alternate token and J this many times and compare the medians, which steadies the ratio on a shared machine")
	if err := parseBenchFlags(fs, args, stdout); err != nil {
		return err
	}
	var missing []error
	for _, f := range []struct{ name, v string }{{"url", *issuer}, {"client-id", *clientID}, {"client-key", *keyFile}} {
		if f.v == "" {
			missing = append(missing, fmt.Errorf("--%s is required", f.name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return fmt.Errorf("cedula bench token: %w", err)
	}
	raw, err := os.ReadFile(*keyFile)
	if err != nil {
		return fmt.Errorf("cedula bench token: %w", err)
	}
	key, err := jose.ParseClientKey(raw)
	if err != nil {
		return fmt.Errorf("cedula bench token: %s: %w", *keyFile, err)
	}
	hc := bench.NewHTTPClient(lf.concurrency)
	tc, err := bench.NewTokenClient(ctx, bench.TokenConfig{
		Issuer: *issuer, ClientID: *clientID, Key: key, Audience: bench.Audience(*aud), Scope: *scope, HTTP: hc,
	})
	if err != nil {
		return err
	}
	// One request first: a misconfigured client fails here, clearly,
	// instead of as a table full of errors.
	if err := tc.Request(ctx); err != nil {
		return fmt.Errorf("cedula bench token: first request to %s: %w", tc.TokenEndpoint(), err)
	}
	fmt.Fprintf(stdout, "token: %s, client %s (%s key %s, aud %s), concurrency %d, warm-up %v, duration %v\n",
		tc.TokenEndpoint(), *clientID, key.Alg(), key.ID(), *aud, lf.concurrency, lf.warmup, lf.duration)
	return compareWithJ(ctx, "token", tc.Request, lf, *compare, *rounds, *minRatio, stdout)
}

// compareWithJ runs op as scenario name and, with compare, J at the same
// concurrency, alternating rounds times, and prints the table and the ratio
// of the medians; below minRatio (when positive) it fails.
func compareWithJ(ctx context.Context, name string, op func(context.Context) error, lf *loadFlags, compare bool, rounds int, minRatio float64, stdout io.Writer) error {
	n := 1
	if compare && rounds > 1 {
		n = rounds
	}
	var results []bench.Result
	var ops, js []float64
	for i := 0; i < n; i++ {
		res, err := bench.Run(ctx, lf.options(name, stdout), op)
		if err != nil {
			return partial(stdout, res, err)
		}
		if res.Ops == 0 {
			return fmt.Errorf("cedula bench %s: no request succeeded; first error: %s", name, res.FirstError)
		}
		results = append(results, res)
		ops = append(ops, res.Throughput)
		if compare {
			j, err := measureReference(ctx, lf, stdout)
			if err != nil {
				return err
			}
			results = append(results, j)
			js = append(js, j.Throughput)
		}
	}
	fmt.Fprintln(stdout)
	if err := bench.WriteTable(stdout, results...); err != nil {
		return err
	}
	if !compare {
		return nil
	}
	opT, jT := median(ops), median(js)
	ratio := opT / jT
	verdict := ""
	if minRatio > 0 {
		verdict = fmt.Sprintf(" (target ≥ %.2f: met)", minRatio)
		if ratio < minRatio {
			verdict = fmt.Sprintf(" (target ≥ %.2f: NOT met)", minRatio)
		}
	}
	what := name + "/J"
	if n > 1 {
		what = fmt.Sprintf("median %s/median J over %d rounds", name, n)
	}
	fmt.Fprintf(stdout, "%s = %.1f / %.1f = %.2f%s\n", what, opT, jT, ratio, verdict)
	if minRatio > 0 && ratio < minRatio {
		return fmt.Errorf("cedula bench %s: %s throughput is %.2f × J, below --min-ratio %.2f", name, name, ratio, minRatio)
	}
	return nil
}

// partial prints what an interrupted run measured so far and returns err.
func partial(stdout io.Writer, res bench.Result, err error) error {
	if res.Ops+res.Errors > 0 {
		fmt.Fprintln(stdout, "\ninterrupted; measured so far:")
		_ = bench.WriteTable(stdout, res)
	}
	return err
}

// median returns the median of v (the mean of the middle two for an even
// count).
func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
