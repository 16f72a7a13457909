package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/jose"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load generator: measure the server against a reference",
		Long: `Load generator. Each scenario runs --concurrency workers in a closed loop,
first for --warmup (not measured), then for --duration, printing progress once a
second and then a table of throughput and latency percentiles.

J, the reference, is an in-process echo server on loopback whose one handler
signs an SD-JWT-sized ES256 credential; token, consent, issue, credential and
wallet alternate rounds with J at the same concurrency and compare the medians.
V₂, the reference of verify, is ES256 verifications per second on all cores,
measured in the bench's process after each round.`,
		Example: `  cedula bench reference
  cedula bench token --url URL --client-id ID --client-key FILE.jwk
  cedula bench token --url URL --auth secret --client-id ID --client-secret-file FILE
  cedula bench consent --url URL --client-id ID --client-key FILE.jwk
  cedula bench issue --url URL --client-id ID --client-key FILE.jwk
  cedula bench credential --url URL --client-id ID --client-key FILE.jwk
  cedula bench wallet --url URL --client-id ID --client-key FILE.jwk
  cedula bench verify --url URL --client-id ID --client-key FILE.jwk
  cedula bench journeys --mode segment
  cedula bench journeys --mode alerts --url URL --client-id ID --client-key FILE.jwk
  cedula bench audit --db postgres://…
  cedula bench seed --entries N --citizens M`,
	}
	cmd.AddCommand(newBenchReferenceCmd(), newBenchTokenCmd(), newBenchAuditCmd(), newBenchConsentCmd(), newBenchIssueCmd(),
		newBenchCredentialCmd(), newBenchWalletCmd(), newBenchVerifyCmd(), newBenchJourneysCmd(), newBenchSeedCmd())
	groupRunE(cmd, "scenario")
	return cmd
}

// loadFlags are the flags every scenario shares.
type loadFlags struct {
	concurrency      int
	duration, warmup time.Duration
	quiet            bool
}

// defaultConcurrency is the workers of a scenario that names no other
// number.
const defaultConcurrency = 64

// add adds the flags, with concurrency workers by default.
func (l *loadFlags) add(fs *pflag.FlagSet, concurrency int) {
	fs.IntVar(&l.concurrency, "concurrency", concurrency, "workers, each with one request in flight")
	fs.DurationVar(&l.duration, "duration", 20*time.Second, "measured time")
	fs.DurationVar(&l.warmup, "warmup", 3*time.Second, "unmeasured time first, to warm connections and caches")
	fs.BoolVar(&l.quiet, "quiet", false, "no progress lines, only the results")
}

func (l *loadFlags) options(name string, stdout io.Writer) bench.Options {
	o := bench.Options{Name: name, Concurrency: l.concurrency, Duration: l.duration, Warmup: l.warmup}
	if !l.quiet {
		o.Progress = stdout
	}
	return o
}

// benchReferenceOptions are the flags of cedula bench reference.
type benchReferenceOptions struct {
	load  loadFlags
	serve string
}

func newBenchReferenceCmd() *cobra.Command {
	var o benchReferenceOptions
	cmd := &cobra.Command{
		Use:   "reference",
		Short: "Measure J, the reference: a loopback server that only signs",
		Long: `Measure J: an in-process echo server on loopback whose one handler signs an
SD-JWT-sized ES256 credential (8 disclosures, about 1 KiB).

With --serve ADDR, serve J's handler (POST /sign) on ADDR until interrupted
instead, for an outside load generator such as wrk (see
internal/bench/wrk/token.lua).`,
		Example: "  cedula bench reference --concurrency 64\n  cedula bench reference --serve 127.0.0.1:8081",
		Args:    noArgs,
		RunE:    runWith(&o, benchReference),
	}
	o.load.add(cmd.Flags(), defaultConcurrency)
	cmd.Flags().StringVar(&o.serve, "serve", "", "serve J's handler on this `address` until interrupted instead of measuring it")
	return cmd
}

func benchReference(ctx context.Context, o benchReferenceOptions, stdout io.Writer) error {
	if o.serve != "" {
		return serveReference(ctx, o.serve, stdout)
	}
	j, err := measureReference(ctx, &o.load, stdout)
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

// serveReference serves J's handler on addr until ctx ends, then prints
// the process's RSS.
func serveReference(ctx context.Context, addr string, stdout io.Writer) error {
	ref, err := bench.ServeReference(ctx, addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reference J serving on %s (POST); interrupt to stop\n", ref.URL)
	<-ctx.Done()
	err = ref.Close()
	printRSS(stdout, "J's process (this one)", func(context.Context) (bench.RSS, error) { return bench.ProcessRSS(0) })
	return err
}

// printRSS prints what rss reads, or why it could not.
func printRSS(stdout io.Writer, whose string, rss func(context.Context) (bench.RSS, error)) {
	r, err := rss(context.Background())
	if err != nil {
		fmt.Fprintf(stdout, "RSS of %s: unknown (%v)\n", whose, err)
		return
	}
	fmt.Fprintf(stdout, "RSS of %s: %s\n", whose, r)
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
	printRSS(stdout, "J's process (this one, the load generator included)", func(context.Context) (bench.RSS, error) { return bench.ProcessRSS(0) })
	return res, nil
}

// benchTokenOptions are the flags of cedula bench token.
type benchTokenOptions struct {
	load                                                 loadFlags
	rss                                                  rssFlags
	compare                                              compareFlags
	url, auth, clientID, keyFile, secretFile, aud, scope string
	against, againstSecret                               string
}

func newBenchTokenCmd() *cobra.Command {
	var o benchTokenOptions
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Load the token endpoint of a server with client_credentials",
		Long: `Load the token endpoint of the server at --url with client_credentials, the
client authenticating with private_key_jwt (a fresh RFC 7523 assertion per
request, the default) or client_secret_basic. With --compare (the default) also
measure J at the same concurrency and print token/J. After each round print the
server's RSS, from --metrics-url (default the admin listener's /metrics) or
/proc with --pid.`,
		Example: `  cedula bench token --url URL --client-id ID --client-key FILE.jwk
  cedula bench token --url URL --auth secret --client-id ID --client-secret-file FILE`,
		Args: noArgs,
		RunE: runWith(&o, benchToken),
	}
	fs := cmd.Flags()
	o.load.add(fs, defaultConcurrency)
	fs.StringVar(&o.url, "url", "", "the server's issuer `URL`; its discovery document gives the token endpoint (required)")
	fs.StringVar(&o.auth, "auth", "jwt", "client authentication: jwt (private_key_jwt, a fresh assertion per request) or secret (client_secret_basic)")
	fs.StringVar(&o.clientID, "client-id", "", "client `ID` of an agency client registered for the --auth method (required)")
	fs.StringVar(&o.keyFile, "client-key", "", "with --auth jwt: `file` with the client's private JWK (required)")
	fs.StringVar(&o.secretFile, "client-secret-file", "", "with --auth secret: `file` holding the client's secret (required)")
	fs.StringVar(&o.aud, "aud", string(bench.AudTokenEndpoint), "with --auth jwt: client assertion audience: token-endpoint, issuer or both")
	fs.StringVar(&o.scope, "scope", "", "scope to request (optional)")
	o.rss.add(fs)
	o.compare.add(fs, "token", defaultMinRatio)
	fs.StringVar(&o.against, "against", "", "a second server's issuer `URL` (e.g. the benchmark-only build without the audit entry): each round measures the same request there right after the first, and the run reports the first's throughput as a share of the second's")
	fs.StringVar(&o.againstSecret, "against-client-secret-file", "", "with --against and --auth secret: the client's secret there (default: --client-secret-file)")
	return cmd
}

func benchToken(ctx context.Context, o benchTokenOptions, stdout io.Writer) error {
	lf := &o.load
	var bad []error
	need := map[string]string{"url": o.url, "client-id": o.clientID}
	switch o.auth {
	case "jwt":
		need["client-key"] = o.keyFile
	case "secret":
		need["client-secret-file"] = o.secretFile
	default:
		bad = append(bad, fmt.Errorf("--auth %q: want jwt or secret", o.auth))
	}
	for _, name := range []string{"url", "client-id", "client-key", "client-secret-file"} {
		if v, ok := need[name]; ok && v == "" {
			bad = append(bad, fmt.Errorf("--%s is required", name))
		}
	}
	if err := errors.Join(bad...); err != nil {
		return fmt.Errorf("cedula bench token: %w", err)
	}
	hc := bench.NewHTTPClient(lf.concurrency)
	cfg := bench.TokenConfig{Issuer: o.url, ClientID: o.clientID, Audience: bench.Audience(o.aud), Scope: o.scope, HTTP: hc}
	how := "client_secret_basic"
	if o.auth == "jwt" {
		raw, err := os.ReadFile(o.keyFile)
		if err != nil {
			return fmt.Errorf("cedula bench token: %w", err)
		}
		if cfg.Key, err = jose.ParseClientKey(raw); err != nil {
			return fmt.Errorf("cedula bench token: %s: %w", o.keyFile, err)
		}
		how = fmt.Sprintf("private_key_jwt, %s key %s, aud %s", cfg.Key.Alg(), cfg.Key.ID(), o.aud)
	} else {
		raw, err := os.ReadFile(o.secretFile)
		if err != nil {
			return fmt.Errorf("cedula bench token: %w", err)
		}
		if cfg.Secret = strings.TrimSpace(string(raw)); cfg.Secret == "" {
			return fmt.Errorf("cedula bench token: %s holds no secret", o.secretFile)
		}
	}
	tc, err := bench.NewTokenClient(ctx, cfg)
	if err != nil {
		return err
	}
	// One request first: a misconfigured client fails here, clearly,
	// instead of as a table full of errors.
	if err := tc.Request(ctx); err != nil {
		return fmt.Errorf("cedula bench token: first request to %s: %w", tc.TokenEndpoint(), err)
	}
	fmt.Fprintf(stdout, "token: %s, client %s (%s), concurrency %d, warm-up %v, duration %v\n",
		tc.TokenEndpoint(), o.clientID, how, lf.concurrency, lf.warmup, lf.duration)
	var alt *scenario
	if o.against != "" {
		acfg := cfg
		acfg.Issuer = o.against
		if o.auth == "secret" && o.againstSecret != "" {
			raw, err := os.ReadFile(o.againstSecret)
			if err != nil {
				return fmt.Errorf("cedula bench token: %w", err)
			}
			acfg.Secret = strings.TrimSpace(string(raw))
		}
		ac, err := bench.NewTokenClient(ctx, acfg)
		if err != nil {
			return err
		}
		if err := ac.Request(ctx); err != nil {
			return fmt.Errorf("cedula bench token: first request to %s: %w", ac.TokenEndpoint(), err)
		}
		fmt.Fprintf(stdout, "against: %s, the same client and request\n", ac.TokenEndpoint())
		alt = &scenario{name: "against", op: ac.Request}
	}
	return compareWithJ(ctx, scenario{name: "token", op: tc.Request}, o.rss.source(o.url, hc), lf, o.compare, stdout, alt)
}

// defaultMetricsURL is /metrics on the admin listener's default address
// (config admin_listen): the public listener does not serve it.
const defaultMetricsURL = "http://127.0.0.1:9090/metrics"

// rssFlags say where a bench reads the server's resident set.
type rssFlags struct {
	metricsURL string
	pid        int
}

func (r *rssFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&r.metricsURL, "metrics-url", "", "where the server's Prometheus metrics are, for its RSS (process_resident_memory_bytes): its admin listener (default "+defaultMetricsURL+"), \"none\" for no RSS")
	fs.IntVar(&r.pid, "pid", 0, "the server's process ID: read its RSS from /proc instead (same machine)")
}

// compareFlags say how a bench compares the server with J.
type compareFlags struct {
	compare  bool
	minRatio float64
	rounds   int
}

// defaultMinRatio is the least share of J the request scenarios are held
// to by default.
const defaultMinRatio = 0.35

// add adds the flags of the scenario called name, failing below minRatio
// by default.
func (c *compareFlags) add(fs *pflag.FlagSet, name string, minRatio float64) {
	fs.BoolVar(&c.compare, "compare", true, "also measure J at the same concurrency and print "+name+"/J")
	fs.Float64Var(&c.minRatio, "min-ratio", minRatio, "with --compare, fail when "+name+"/J is below this (0: never)")
	fs.IntVar(&c.rounds, "rounds", 3, "with --compare, alternate "+name+" and J this many times and compare the medians, which steadies the ratio on a shared machine")
}

// source returns how to read the server's RSS, nil for not at all.
func (r *rssFlags) source(issuer string, hc *http.Client) func(context.Context) (bench.RSS, error) {
	switch {
	case r.pid != 0:
		return func(context.Context) (bench.RSS, error) { return bench.ProcessRSS(r.pid) }
	case r.metricsURL == "none":
		return nil
	}
	u := r.metricsURL
	if u == "" {
		u = defaultMetricsURL
	}
	return func(ctx context.Context) (bench.RSS, error) { return bench.MetricsRSS(ctx, hc, u) }
}

// compareWithJ runs sc and, with cf.compare, J at the same concurrency,
// alternating cf.rounds times, and prints the table and the ratio of the
// medians; below cf.minRatio (when positive) it fails. After each round of
// sc it prints the server's RSS, which rss reads (when not nil).
//
// With alt, each round also measures alt right after sc, and the run
// reports sc's throughput as a share of alt's (the median of the rounds'
// ratios): two builds of the server compared in one run, each round under
// the same conditions.
func compareWithJ(ctx context.Context, sc scenario, rss func(context.Context) (bench.RSS, error),
	lf *loadFlags, cf compareFlags, stdout io.Writer, alt *scenario) error {
	name := sc.name
	compare, rounds, minRatio := cf.compare, cf.rounds, cf.minRatio
	n := 1
	if compare && rounds > 1 {
		n = rounds
	}
	var results []bench.Result
	var ops, js, alts, shares []float64
	for i := 0; i < n; i++ {
		res, err := sc.run(ctx, lf, stdout)
		if err != nil {
			return err
		}
		results = append(results, res)
		ops = append(ops, res.Throughput)
		if rss != nil {
			printRSS(stdout, fmt.Sprintf("the server after %s round %d", name, i+1), rss)
		}
		if alt != nil {
			a, err := alt.run(ctx, lf, stdout)
			if err != nil {
				return err
			}
			results = append(results, a)
			alts = append(alts, a.Throughput)
			shares = append(shares, res.Throughput/a.Throughput)
		}
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
	if alt != nil {
		s := median(shares)
		fmt.Fprintf(stdout, "median %s/median J = %.1f / %.1f = %.2f\n", alt.name, median(alts), jT, median(alts)/jT)
		fmt.Fprintf(stdout, "%s as a share of %s, median of the rounds' ratios: %.3f (1 − it: %.1f %%)\n", name, alt.name, s, 100*(1-s))
	}
	if minRatio > 0 && ratio < minRatio {
		return &belowTarget{name: name, ratio: ratio, min: minRatio}
	}
	return nil
}

// belowTarget is a scenario's throughput below its --min-ratio of J: the
// run measured it, and it misses the target.
type belowTarget struct {
	name       string
	ratio, min float64
	// of is the reference the ratio is of ("J" when empty).
	of string
}

func (e *belowTarget) Error() string {
	return fmt.Sprintf("cedula bench %s: %s throughput is %.2f × %s, below --min-ratio %.2f", e.name, e.name, e.ratio, cmp.Or(e.of, "J"), e.min)
}

// scenario is a named operation a bench measures.
type scenario struct {
	name string
	op   func(context.Context) error
	// prepare, when not nil, runs before each round, untimed: it makes
	// what the round's calls consume (offers to redeem, access tokens).
	prepare func(context.Context) error
	// done, when not nil, runs after each round with its result, untimed;
	// its error ends the bench (a round that ran short of what prepare
	// made measured something else).
	done func(bench.Result) error
}

// run prepares and measures one round of sc; a round in which no call
// succeeded is an error.
func (sc scenario) run(ctx context.Context, lf *loadFlags, stdout io.Writer) (bench.Result, error) {
	if sc.prepare != nil {
		if err := sc.prepare(ctx); err != nil {
			return bench.Result{}, fmt.Errorf("cedula bench %s: %w", sc.name, err)
		}
	}
	res, err := bench.Run(ctx, lf.options(sc.name, stdout), sc.op)
	if sc.done != nil {
		if derr := sc.done(res); derr != nil && err == nil {
			return res, fmt.Errorf("cedula bench %s: %w", sc.name, derr)
		}
	}
	if err != nil {
		return res, partial(stdout, res, err)
	}
	if res.Ops == 0 {
		return res, fmt.Errorf("cedula bench %s: no request succeeded; first error: %s", sc.name, res.FirstError)
	}
	return res, nil
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
