package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/cedula/cedula/internal/bench"
)

// benchWalletOptions are the flags of cedula bench wallet.
type benchWalletOptions struct {
	load                           loadFlags
	rss                            rssFlags
	compare                        compareFlags
	url, clientID, keyFile, typeID string
	scenarios                      string
	citizens, held, offers         int
	streams, events                int
}

// maxListLimit is the mobile API's largest page of credentials
// (openapi/mobile.yaml, listCredentials' limit).
const maxListLimit = 100

func newBenchWalletCmd() *cobra.Command {
	var o benchWalletOptions
	cmd := &cobra.Command{
		Use:   "wallet",
		Short: "Load the mobile API as citizens' wallet apps: list credentials, accept offers, hold inbox streams",
		Long: `Load the mobile API of the server at --url as --citizens citizens' wallet apps
would, each worker a phone, the citizens taken round robin.

Not timed, the set-up: the agency (--client-id) creates the citizens through
the admin API and an enrolment link for each; a software authenticator
enrols a passkey on the enrolment page (its JSON endpoints, as the page's
script calls them); the wallet app logs in as ` + "`cedula wallet login`" + ` does
(PAR, PKCE, a DPoP key), the passkey login on the login page and the
approval on the consent page played by a scripted browser; then the agency
offers each citizen --held credentials, which their app accepts through
POST /mobile/v1/offers.

Scenario list, timed: GET /mobile/v1/credentials?limit=--held with a fresh
DPoP proof, its answer decoded and holding every credential. Target (issue
12): list ≥ 0.5 × J (--min-ratio applies to list).

Scenario accept, timed: one offer accepted, POST /mobile/v1/offers with its
transaction code, a fresh Idempotency-Key and DPoP proof — the server
redeems the offer at its issuer, asks for the credential with a key it
seals, stores it, audited. Not timed: the agency's offers, made before each
round as bench issue makes them (the first round as many as the agency makes
in the round's length, later the busiest round's and a quarter more, or
--offers); a round that runs out fails.

List and accept alternate --rounds with J at the same concurrency. The mobile
API limits each citizen's requests (120 a minute) and the pages an address's
logins and enrolments: run the server with rate_limits raised (see
docs/performance.md), or the run stops at the first 429 saying so.

Scenario sse, not compared with J: --streams inbox streams (GET
/mobile/v1/inbox/events) held open at once, spread over the citizens, the
server's RSS before and with them; then --events times the agency changes
the status of each citizen's first credential (suspended, then valid
again), and each event is timed from its citizen's change request to its
arrival on each of their streams. Target (issue 12): every stream reached,
p99 ≤ 1 s. The streams need as many file descriptors in both processes.`,
		Example: "  cedula bench wallet --url http://localhost:8080 --client-id demo-machine --client-key data/demo-machine.jwk",
		Args:    noArgs,
		RunE:    runWith(&o, benchWallet),
	}
	fs := cmd.Flags()
	o.load.add(fs, vciConcurrency)
	fs.StringVar(&o.url, "url", "", "the server's public `URL` (required)")
	fs.StringVar(&o.clientID, "client-id", "", "an agency client with scopes cedula:admin and cedula:issuance, private_key_jwt, one of the type's issuers (required)")
	fs.StringVar(&o.keyFile, "client-key", "", "`file` with the client's private JWK (required)")
	fs.StringVar(&o.typeID, "type", "pid", "the credential configuration offered (one issued at once, not on an officer's approval)")
	fs.IntVar(&o.citizens, "citizens", 100, "citizens to create, enrol and log in, each with the wallet app")
	fs.IntVar(&o.held, "held", 20, fmt.Sprintf("credentials each wallet holds before list is measured (1–%d: one page)", maxListLimit))
	fs.IntVar(&o.offers, "offers", 0, "accept: offers to have ready before each round (0: sized as above)")
	fs.StringVar(&o.scenarios, "scenarios", "list,accept,sse", "the scenarios to run, in this order")
	fs.IntVar(&o.streams, "streams", 10000, "sse: inbox streams to hold open")
	fs.IntVar(&o.events, "events", 3, "sse: events sent to every stream, one after the other")
	o.rss.add(fs)
	o.compare.add(fs, "list", 0.5)
	return cmd
}

// walletBench is what the scenarios share: the agency, the citizens'
// apps, and the mobile API's address.
type walletBench struct {
	o      benchWalletOptions
	hc     *http.Client
	api    *agencyAPI
	mobile string // the mobile API's base URL
	apps   []*citizenApp
	next   atomic.Int64
	// limited counts answers 429: the server's rate limits, not its speed.
	limited atomic.Int64
}

func benchWallet(ctx context.Context, o benchWalletOptions, stdout io.Writer) error {
	b, err := newWalletBench(ctx, o, stdout)
	if err != nil {
		return fmt.Errorf("cedula bench wallet: %w", err)
	}
	lf := &o.load
	fmt.Fprintf(stdout, "wallet: %s, client %s, type %s, %d citizens holding %d credentials each, concurrency %d, warm-up %v, duration %v\n",
		b.mobile, o.clientID, o.typeID, len(b.apps), o.held, lf.concurrency, lf.warmup, lf.duration)
	var failed []error
	for _, name := range strings.Split(o.scenarios, ",") {
		var sc scenario
		cf := o.compare
		switch name {
		case "sse":
			if err := b.runSSE(ctx, o.rss.source(o.url, b.hc), stdout); err != nil {
				if n := b.limited.Swap(0); n > 0 {
					return fmt.Errorf("cedula bench wallet: sse: the server refused %d requests with 429: raise its rate_limits (docs/performance.md)", n)
				}
				failed = append(failed, err)
			}
			continue
		case "list":
			fmt.Fprintf(stdout, "list: each call timed: GET /mobile/v1/credentials?limit=%d, a fresh DPoP proof, every credential in the answer\n", o.held)
			sc = b.listScenario()
		case "accept":
			fmt.Fprintln(stdout, "accept: each call timed: POST /mobile/v1/offers (tx_code, a fresh Idempotency-Key and DPoP proof); "+
				"the agency's offers made before each round, untimed")
			sc, cf.minRatio = b.acceptScenario(stdout), 0
		}
		err := compareWithJ(ctx, sc, o.rss.source(o.url, b.hc), lf, cf, stdout, nil)
		if n := b.limited.Swap(0); n > 0 {
			return fmt.Errorf("cedula bench wallet: %s: the server refused %d requests with 429: raise its rate_limits (docs/performance.md)", name, n)
		}
		var below *belowTarget
		if errors.As(err, &below) {
			failed = append(failed, err)
			continue
		}
		if err != nil {
			return err
		}
	}
	return errors.Join(failed...)
}

// newWalletBench checks the flags, logs the agency in and sets up the
// citizens' apps, each holding o.held credentials.
func newWalletBench(ctx context.Context, o benchWalletOptions, stdout io.Writer) (*walletBench, error) {
	var bad []error
	if o.url == "" || o.clientID == "" || o.keyFile == "" {
		bad = append(bad, errors.New("--url, --client-id and --client-key are required"))
	}
	if o.citizens < 1 {
		bad = append(bad, fmt.Errorf("--citizens %d: want at least 1", o.citizens))
	}
	if o.held < 1 || o.held > maxListLimit {
		bad = append(bad, fmt.Errorf("--held %d: want 1 to %d (one page of the list)", o.held, maxListLimit))
	}
	for _, name := range strings.Split(o.scenarios, ",") {
		if name != "list" && name != "accept" && name != "sse" {
			bad = append(bad, fmt.Errorf("--scenarios: %q is not list, accept or sse", name))
		}
	}
	if o.streams < 1 || o.events < 1 {
		bad = append(bad, fmt.Errorf("--streams %d, --events %d: want at least 1 of each", o.streams, o.events))
	}
	if err := errors.Join(bad...); err != nil {
		return nil, err
	}
	key, err := readClientKey(o.keyFile)
	if err != nil {
		return nil, err
	}
	b := &walletBench{o: o, hc: bench.NewHTTPClient(2 * o.load.concurrency)}
	if b.api, err = newAgencyAPI(ctx, b.hc, o.url, o.clientID, key, "cedula:admin cedula:issuance"); err != nil {
		return nil, err
	}
	b.mobile = b.api.base + "/mobile/v1"
	is, err := discoverIssuer(ctx, b.hc, o.url)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(is.configurations, o.typeID) {
		return nil, fmt.Errorf("--type %q: the issuer offers %v", o.typeID, is.configurations)
	}
	if err := b.setUpApps(ctx, stdout); err != nil {
		return nil, err
	}
	return b, nil
}

// setUpApps creates o.citizens citizens through the agency, enrols each
// one's passkey, logs their wallet app in and fills their wallet with
// o.held credentials (none when 0), untimed.
func (b *walletBench) setUpApps(ctx context.Context, stdout io.Writer) error {
	o := b.o
	// The passkeys' origin is the server's public one (its issuer), which
	// --url may spell otherwise.
	pub, err := url.Parse(b.api.tc.Issuer())
	if err != nil {
		return err
	}
	origin := pub.Scheme + "://" + pub.Host
	start := time.Now()
	b.apps = make([]*citizenApp, o.citizens)
	err = eachIndex(ctx, o.citizens, min(o.load.concurrency, 8), func(ctx context.Context, i int) error {
		a, err := b.setUpCitizen(ctx, i, origin)
		b.apps[i] = a
		return err
	})
	if err != nil {
		return setUpError(err)
	}
	holding := ""
	if o.held > 0 {
		holding = fmt.Sprintf(" and holding %d credentials each", o.held)
	}
	fmt.Fprintf(stdout, "set-up: %d citizens created, enrolled (software passkeys), logged in as the wallet app%s in %.1fs (untimed)\n",
		o.citizens, holding, time.Since(start).Seconds())
	return nil
}

// setUpError says what to do about a set-up the server's rate limits
// refused.
func setUpError(err error) error {
	if se := (*statusError)(nil); errors.As(err, &se) && se.status == http.StatusTooManyRequests {
		return fmt.Errorf("set-up: %w (the server's rate limits: raise its rate_limits, docs/performance.md)", err)
	}
	return fmt.Errorf("set-up: %w", err)
}

// setUpCitizen creates the i-th citizen, enrols their passkey, logs their
// app in and fills their wallet.
func (b *walletBench) setUpCitizen(ctx context.Context, i int, origin string) (*citizenApp, error) {
	id, sub, err := b.api.createCitizen(ctx, i)
	if err != nil {
		return nil, err
	}
	link, err := b.api.enrolmentLink(ctx, id)
	if err != nil {
		return nil, err
	}
	a, err := newCitizenApp(ctx, b.hc, b.o.url, origin, id, sub, link)
	if err != nil {
		return nil, err
	}
	for range b.o.held {
		uri, tx, cid, err := b.api.offerID(ctx, sub, b.o.typeID)
		if err != nil {
			return nil, err
		}
		if a.credential == "" {
			a.credential = cid
		}
		if err := a.accept(ctx, b.hc, b.mobile, uri, tx); err != nil {
			return nil, fmt.Errorf("fill the wallet: %w", err)
		}
	}
	return a, nil
}

// relogin logs again in every app whose token would expire within d.
func (b *walletBench) relogin(ctx context.Context, d time.Duration) error {
	return eachIndex(ctx, len(b.apps), min(b.o.load.concurrency, 8), func(ctx context.Context, i int) error {
		if a := b.apps[i]; !a.session.expires.IsZero() && time.Until(a.session.expires) < d {
			return a.login(ctx, b.hc, b.o.url)
		}
		return nil
	})
}

// eachIndex calls fn once for each index 0 ≤ i < n from conc workers
// (bench.Loop numbers its workers, not its calls).
func eachIndex(ctx context.Context, n, conc int, fn func(ctx context.Context, i int) error) error {
	var next atomic.Int64
	_, _, err := bench.Loop(ctx, n, conc, func(ctx context.Context, _ int) error {
		return fn(ctx, int(next.Add(1)-1))
	})
	return err
}

// prepare gets the agency and the apps through a round: fresh tokens.
func (b *walletBench) prepare(ctx context.Context) error {
	if err := b.api.login(ctx); err != nil {
		return err
	}
	lf := &b.o.load
	if err := b.relogin(ctx, lf.warmup+lf.duration+time.Minute); err != nil {
		return fmt.Errorf("log the apps in again: %w", setUpError(err))
	}
	return nil
}

// count notes a 429 among err.
func (b *walletBench) count(err error) error {
	if se := (*statusError)(nil); errors.As(err, &se) && se.status == http.StatusTooManyRequests {
		b.limited.Add(1)
	}
	return err
}

// listScenario: one call lists the next citizen's credentials.
func (b *walletBench) listScenario() scenario {
	u := fmt.Sprintf("%s/credentials?limit=%d", b.mobile, b.o.held)
	return scenario{name: "list", prepare: b.prepare, op: func(ctx context.Context) error {
		a := b.apps[int(b.next.Add(1)%int64(len(b.apps)))]
		req, err := a.mobileRequest(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		if err := doJSON(b.hc, req, http.StatusOK, &page); err != nil {
			return b.count(err)
		}
		if len(page.Items) != b.o.held {
			return fmt.Errorf("list: %d credentials, want %d", len(page.Items), b.o.held)
		}
		return nil
	}}
}

// walletOffer is an offer made to a citizen, for their app to accept.
type walletOffer struct {
	app     *citizenApp
	uri, tx string
}

// acceptScenario: one call accepts one offer the agency made before the
// round.
func (b *walletBench) acceptScenario(stdout io.Writer) scenario {
	var offers stock[walletOffer]
	mk := func(ctx context.Context) (walletOffer, error) {
		a := b.apps[int(b.next.Add(1)%int64(len(b.apps)))]
		uri, tx, err := b.api.offer(ctx, a.sub, b.o.typeID)
		return walletOffer{app: a, uri: uri, tx: tx}, err
	}
	sc := scenario{name: "accept", op: func(ctx context.Context) error {
		of, err := offers.take(ctx)
		if err != nil {
			return err
		}
		return b.count(of.app.accept(ctx, b.hc, b.mobile, of.uri, of.tx))
	}}
	sc.prepare, sc.done = offers.rounds(b.o.offers, &b.o.load, stdout, b.prepare, mk)
	return sc
}
